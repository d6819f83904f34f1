"""ONNX graphs, stored as the ``.onnx`` file itself and run with onnxruntime on CPU.

An ``onnx.ModelProto`` is recognised on its own; raw bytes or a path to an ``.onnx``
file need ``flavor="onnx"``. Inputs are cast to the graph's element types (a float64
array feeds a ``tensor(float)`` input as float32). A graph with one output returns that
array; with several, a dict of them (which ``LoadedModel`` turns into a DataFrame).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidArgument, ValidationFailed
from shipyard.models.flavors.base import Flavor, SavedFlavor, module_roots, no_params, require
from shipyard.models.requirements import installed_version

MODEL_FILE = "model.onnx"
_ELEMENT_TYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int8)": "int8",
    "tensor(int16)": "int16",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(uint8)": "uint8",
    "tensor(uint16)": "uint16",
    "tensor(uint32)": "uint32",
    "tensor(uint64)": "uint64",
    "tensor(bool)": "bool",
    "tensor(string)": "object",
}


def _model_bytes(obj: Any) -> bytes:
    if isinstance(obj, bytes | bytearray):
        return bytes(obj)
    if isinstance(obj, str | os.PathLike):
        path = Path(obj)
        if not path.is_file():
            raise InvalidArgument(f"ONNX file '{path}' does not exist", {"field": "model"})
        return path.read_bytes()
    serialize = getattr(obj, "SerializeToString", None)
    if callable(serialize):
        data = serialize()
        if isinstance(data, bytes):
            return data
    raise InvalidArgument(
        f"an ONNX model is an onnx.ModelProto, bytes or a path, not {type(obj).__name__}", {"field": "model"}
    )


class ONNXFlavor(Flavor):
    name = "onnx"

    def matches(self, obj: Any) -> bool:
        if "onnx" not in module_roots(obj):
            return False
        onnx = require("onnx", "onnx")
        return isinstance(obj, onnx.ModelProto)

    def save(self, obj: Any, directory: Path) -> SavedFlavor:
        onnx = require("onnx", "onnx")
        data = _model_bytes(obj)
        proto = onnx.ModelProto()
        try:
            proto.ParseFromString(data)
        except Exception as exc:  # protobuf's DecodeError has no stable import path
            raise InvalidArgument(f"not an ONNX model: {exc}", {"field": "model"}) from exc
        if not proto.graph.node and not proto.graph.output:
            raise InvalidArgument("not an ONNX model: the graph is empty", {"field": "model"})
        (directory / MODEL_FILE).write_bytes(data)
        info = {
            "ir_version": proto.ir_version,
            "opset": {op.domain or "ai.onnx": op.version for op in proto.opset_import},
            "producer": f"{proto.producer_name} {proto.producer_version}".strip(),
            "inputs": [i.name for i in proto.graph.input],
            "outputs": [o.name for o in proto.graph.output],
            "onnxruntime_version": installed_version("onnxruntime"),
        }
        return SavedFlavor(model_file=MODEL_FILE, serialization="onnx", info=info, packages=["onnxruntime", "numpy"])

    def load(self, directory: Path, model_file: str, info: Mapping[str, Any], *, allow_pickle: bool) -> Any:
        ort = require("onnxruntime", "onnxruntime")
        return ort.InferenceSession(str(directory / model_file), providers=["CPUExecutionProvider"])

    def predict(self, raw: Any, data: Any, info: Mapping[str, Any], params: Mapping[str, Any] | None) -> Any:
        no_params(self.name, params)
        import numpy as np
        import pandas as pd

        inputs = raw.get_inputs()
        feed: dict[str, Any] = {}
        if isinstance(data, Mapping):
            for node in inputs:
                if node.name not in data:
                    raise ValidationFailed(f"input is missing tensor '{node.name}'", {"field": node.name})
                feed[node.name] = np.asarray(data[node.name])
        elif len(inputs) == 1:
            feed[inputs[0].name] = data.to_numpy() if isinstance(data, pd.DataFrame) else np.asarray(data)
        elif isinstance(data, pd.DataFrame):  # one graph input per column, as skl2onnx makes them
            for node in inputs:
                if node.name not in data.columns:
                    raise ValidationFailed(f"input is missing column '{node.name}'", {"field": node.name})
                feed[node.name] = data[node.name].to_numpy().reshape(-1, 1)
        else:
            names = ", ".join(node.name for node in inputs)
            raise ValidationFailed(f"this ONNX model takes several inputs ({names}); pass a dict of arrays")
        for node in inputs:
            dtype = _ELEMENT_TYPES.get(node.type)
            if dtype is not None and feed[node.name].dtype != dtype:
                feed[node.name] = feed[node.name].astype(dtype)
        outputs = raw.run(None, feed)
        if len(outputs) == 1:
            return outputs[0]
        return {node.name: value for node, value in zip(raw.get_outputs(), outputs, strict=True)}
