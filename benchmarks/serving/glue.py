"""The small glue each peer needs to serve a joblib'd scikit-learn model, as text written into
the work directory at run time and run by that peer's venv (never imported here).

Each is what a user of that server would write for a scikit-learn model, with per-request
access logging off (Shipyard logs none) and every socket on 127.0.0.1.
"""

from __future__ import annotations

# KServe 0.21: there is no scikit-learn runtime on PyPI (``sklearnserver`` ships only in the
# container image), so this is KServe's documented custom-model pattern: a ``kserve.Model``
# subclass answering V1 (``instances``) and V2 (``InferRequest``). KServe hard-codes
# ``host="0.0.0.0"`` and has no switch for uvicorn's access log, so the shim below sets both on
# uvicorn's Config (loopback only, access log off); nothing else is changed.
KSERVE_SERVER = r'''
"""KServe custom model server for the Shipyard serving benchmark."""
import sys

import joblib
import numpy as np
import uvicorn

_config_init = uvicorn.Config.__init__


def _loopback_config(self, *args, **kwargs):
    kwargs["host"] = "127.0.0.1"
    kwargs["access_log"] = False
    _config_init(self, *args, **kwargs)


uvicorn.Config.__init__ = _loopback_config

from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer  # noqa: E402
from kserve.utils.utils import generate_uuid  # noqa: E402


class SklearnModel(Model):
    def __init__(self, name, path):
        super().__init__(name)
        self.path = path
        self.model = None
        self.load()

    def load(self):
        self.model = joblib.load(self.path)
        self.ready = True
        return self.ready

    def predict(self, payload, headers=None):
        if isinstance(payload, InferRequest):
            result = self.model.predict(payload.inputs[0].as_numpy())
            output = InferOutput(name="output-0", shape=list(result.shape), datatype="INT64", data=result)
            response_id = payload.id or generate_uuid()
            return InferResponse(model_name=self.name, infer_outputs=[output], response_id=response_id)
        result = self.model.predict(np.asarray(payload["instances"], dtype=np.float64))
        return {"predictions": result.tolist()}


if __name__ == "__main__":
    name, path, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ModelServer(http_port=port, workers=1, enable_grpc=False, enable_latency_logging=False).start(
        [SklearnModel(name, path)]
    )
'''

# BentoML 1.4: the documented scikit-learn service (a sync ``np.ndarray`` API), one worker,
# access log off, usage tracking off (environment).
BENTOML_SERVICE = r'''
"""BentoML service for the Shipyard serving benchmark."""
import os

import bentoml
import joblib
import numpy as np

MODEL_PATH = os.environ["SHIPYARD_BENCH_MODEL"]


@bentoml.service(workers=1, logging={"access": {"enabled": False}})
class Sklearn:
    def __init__(self) -> None:
        self.model = joblib.load(MODEL_PATH)

    @bentoml.api
    def predict(self, inputs: np.ndarray) -> np.ndarray:
        return self.model.predict(inputs)
'''


def mlserver_settings(*, http_port: int, grpc_port: int, metrics_port: int, parallel_workers: int) -> dict[str, object]:
    """MLServer 1.7.1 ``settings.json``: loopback, ``debug`` off (its access log), the given
    number of inference worker processes (0: in the server process)."""
    return {
        "host": "127.0.0.1",
        "http_port": http_port,
        "grpc_port": grpc_port,
        "metrics_port": metrics_port,
        "parallel_workers": parallel_workers,
        "debug": False,
    }


def mlserver_model_settings(name: str, joblib_path: str) -> dict[str, object]:
    """MLServer's ``model-settings.json`` for its scikit-learn runtime (batching off: its default)."""
    return {"name": name, "implementation": "mlserver_sklearn.SKLearnModel", "parameters": {"uri": joblib_path}}
