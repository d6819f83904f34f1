"""Model signatures: what a model takes and returns, and how to infer them from an example.

A signature's inputs are either *columns* (a table: named, typed columns, as a
DataFrame or a list of records) or *tensors* (one unnamed array, or several named
arrays), never a mix. Outputs follow the same rule. Every value type is one name from
:data:`VALUE_TYPES`, numpy's spelling where numpy has one.

numpy and pandas are imported inside the functions that need them, so importing this
module stays light.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shipyard.errors import InvalidArgument

ValueType = Literal[
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "string",
    "bytes",
    "datetime",
    "object",
]
VALUE_TYPES: tuple[str, ...] = get_args(ValueType)
NUMERIC_TYPES = frozenset(VALUE_TYPES[:12])  # bool and the numbers: numpy casts between them


class ColumnSpec(BaseModel):
    """One named column of a table. ``shape`` is ``None`` for one scalar per row."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["column"] = "column"
    name: str = Field(min_length=1)
    type: ValueType
    shape: list[int] | None = None
    optional: bool = False


class TensorSpec(BaseModel):
    """One array; ``-1`` in ``shape`` is a dimension of any size (the batch, first)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["tensor"] = "tensor"
    name: str | None = None
    type: ValueType
    shape: list[int]
    optional: bool = False


class ParamSpec(BaseModel):
    """An inference-time parameter (``predict(data, params={...})``) and its default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    type: ValueType
    default: Any = None
    shape: list[int] | None = None


Spec = Annotated[ColumnSpec | TensorSpec, Field(discriminator="kind")]


def _check_specs(specs: Sequence[ColumnSpec | TensorSpec], field: str) -> None:
    kinds = {spec.kind for spec in specs}
    if len(kinds) > 1:
        raise ValueError(f"{field} mixes columns and tensors; use one or the other")
    names = [spec.name for spec in specs]
    if kinds == {"tensor"} and len(specs) > 1 and None in names:
        raise ValueError(f"{field}: when there are several tensors, each needs a name")
    named = [name for name in names if name is not None]
    if len(set(named)) != len(named):
        raise ValueError(f"{field} repeats a name")


class ModelSignature(BaseModel):
    """Inputs (required), outputs and params of a model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    inputs: list[Spec] = Field(min_length=1)
    outputs: list[Spec] | None = None
    params: list[ParamSpec] | None = None

    @model_validator(mode="after")
    def _homogeneous(self) -> ModelSignature:
        _check_specs(self.inputs, "inputs")
        if self.outputs is not None:
            _check_specs(self.outputs, "outputs")
        if self.params is not None and len({p.name for p in self.params}) != len(self.params):
            raise ValueError("params repeats a name")
        return self

    @property
    def takes_columns(self) -> bool:
        return self.inputs[0].kind == "column"


# --- value types of numpy / pandas data ---------------------------------------------

_INFERRED_TO_TYPE = {
    "string": "string",
    "bytes": "bytes",
    "boolean": "bool",
    "integer": "int64",
    "floating": "float64",
    "mixed-integer-float": "float64",
    "decimal": "float64",
    "datetime64": "datetime",
    "datetime": "datetime",
    "date": "datetime",
}


def value_type(dtype: Any) -> str:
    """The :data:`ValueType` of a numpy dtype or a pandas extension dtype."""
    import numpy as np

    if isinstance(dtype, np.dtype):
        kind = dtype.kind
        if kind == "b":
            return "bool"
        if kind in "iuf":
            return dtype.name if dtype.name in NUMERIC_TYPES else "object"
        if kind == "U":
            return "string"
        if kind == "S":
            return "bytes"
        if kind == "M":
            return "datetime"
        return "object"
    import pandas as pd

    if isinstance(dtype, pd.StringDtype):
        return "string"
    if isinstance(dtype, pd.CategoricalDtype):
        return value_type(dtype.categories.dtype)
    if isinstance(dtype, pd.DatetimeTZDtype):
        return "datetime"
    numpy_dtype = getattr(dtype, "numpy_dtype", None)  # nullable Int64, Float64, boolean
    if isinstance(numpy_dtype, np.dtype):
        return value_type(numpy_dtype)
    return "object"


def values_type(values: Any) -> str:
    """The :data:`ValueType` of a pandas Series or numpy array, looking inside ``object`` data."""
    kind = value_type(values.dtype)
    if kind != "object":
        return kind
    import pandas as pd

    flat = values.ravel() if hasattr(values, "ravel") and not isinstance(values, pd.Series) else values
    return _INFERRED_TO_TYPE.get(pd.api.types.infer_dtype(flat, skipna=True), "object")


# --- inference ------------------------------------------------------------------------


def infer_signature(
    model_input: Any, model_output: Any = None, params: Mapping[str, Any] | None = None
) -> ModelSignature:
    """Derive a signature from an example input and, optionally, the model's output on it.

    A DataFrame or a list of records gives named columns; a numpy array gives one tensor
    whose first dimension is ``-1``; a dict of arrays gives named tensors. ``params``
    (name → default) become :class:`ParamSpec` entries.
    """
    inputs = specs_for(model_input, "input_example")
    outputs = specs_for(model_output, "model output") if model_output is not None else None
    param_specs = [_param_spec(name, default) for name, default in params.items()] if params else None
    return ModelSignature(inputs=inputs, outputs=outputs, params=param_specs)


def specs_for(data: Any, what: str) -> list[ColumnSpec | TensorSpec]:
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return [_column_spec(str(name), data[name]) for name in data.columns]
    if isinstance(data, pd.Series):
        return [TensorSpec(type=values_type(data), shape=[-1])]
    if isinstance(data, np.ndarray):
        return [_tensor_spec(None, data)]
    if isinstance(data, Mapping):
        if not data:
            raise InvalidArgument(f"cannot infer a signature from an empty dict ({what})", {"field": what})
        return [_tensor_spec(str(name), np.asarray(value)) for name, value in data.items()]
    if isinstance(data, list | tuple):
        if data and all(isinstance(row, Mapping) for row in data):
            return specs_for(pd.DataFrame.from_records(list(data)), what)
        return [_tensor_spec(None, np.asarray(data))]
    if isinstance(data, bool | int | float | str | np.generic):
        return [TensorSpec(type=values_type(np.asarray([data])), shape=[])]
    raise InvalidArgument(
        f"cannot infer a signature from {type(data).__name__} ({what}); "
        "use a DataFrame, a numpy array, a dict of arrays or a list of records",
        {"field": what},
    )


def _column_spec(name: str, column: Any) -> ColumnSpec:
    return ColumnSpec(name=name, type=values_type(column), optional=bool(column.isna().any()))


def _tensor_spec(name: str | None, array: Any) -> TensorSpec:
    shape = [-1, *array.shape[1:]] if array.ndim else []
    return TensorSpec(name=name, type=values_type(array), shape=[int(d) for d in shape])


def _param_spec(name: str, default: Any) -> ParamSpec:
    import numpy as np

    array = np.asarray(default)
    shape = None if array.ndim == 0 else [-1]
    plain = array.tolist() if isinstance(default, np.ndarray | np.generic) else default
    return ParamSpec(name=name, type=values_type(array), default=plain, shape=shape)
