"""The two benchmark models, trained on scikit-learn's bundled datasets and saved in every
server's format.

* ``iris``: ``LogisticRegression`` on iris (4 columns, 3 classes): the model costs
  microseconds, so a server's per-request overhead is all that is measured.
* ``gbm``: ``GradientBoostingClassifier(n_estimators=100)`` on breast cancer (30 columns):
  ~100 µs of model time per call whatever the batch, so batching pays off.

Both are trained on plain ``float64`` arrays (no column names), so every server hands the
model the same ndarray and no peer pays for a feature-name check. Formats, all in the work
directory: a Shipyard model directory (``shipyard.models.save_model``, with a 2-row input
example: a tensor signature), a joblib file (KServe, MLServer and BentoML load it with the
same scikit-learn version, pinned in their venvs) and an MLflow model directory, written by
``mlflow.sklearn.save_model`` under the MLflow venv's Python.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The rows sent: a fixed shuffle of the dataset, so a 100-row body holds every class.
BODY_ROWS = (1, 100)
SEED = 0

MLFLOW_SAVE = r'''
"""Save a joblib'd scikit-learn model as an MLflow model; runs under the MLflow venv's Python."""
import json, sys

import joblib
import mlflow.sklearn
import numpy as np
from skops.io import dumps, get_untrusted_types

src, dst, example_path = sys.argv[1], sys.argv[2], sys.argv[3]
model = joblib.load(src)
example = np.asarray(json.loads(open(example_path).read()), dtype=np.float64)
trusted = get_untrusted_types(data=dumps(model))  # tree models carry sklearn.tree._tree.Tree
mlflow.sklearn.save_model(model, dst, input_example=example, skops_trusted_types=trusted)
print(json.dumps({"mlflow": mlflow.__version__, "trusted": trusted}))
'''


@dataclass
class BenchModel:
    key: str  # iris | gbm
    title: str
    name: str  # the name every server serves it under
    n_features: int
    rows: dict[int, list[list[float]]]  # body rows by count
    expected: dict[int, list[int]]  # the model's own predictions for those rows
    paths: dict[str, Path] = field(default_factory=dict)  # format -> path: shipyard, joblib, mlflow, example


def _datasets() -> dict[str, tuple[str, Any, Any, Any]]:
    from sklearn.datasets import load_breast_cancer, load_iris
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    iris_x, iris_y = load_iris(return_X_y=True)
    bc_x, bc_y = load_breast_cancer(return_X_y=True)
    return {
        "iris": ("iris LogisticRegression (4 columns)", LogisticRegression(max_iter=1000), iris_x, iris_y),
        "gbm": (
            "breast-cancer GradientBoostingClassifier(n_estimators=100) (30 columns)",
            GradientBoostingClassifier(n_estimators=100, random_state=SEED),
            bc_x,
            bc_y,
        ),
    }


def train_models(work: Path, keys: list[str]) -> list[BenchModel]:
    """Train the models named by ``keys``; save each as a Shipyard directory and a joblib file."""
    import joblib  # type: ignore[import-untyped]
    import numpy as np

    from shipyard.models import save_model

    out: list[BenchModel] = []
    for key, (title, estimator, features, y) in _datasets().items():
        if key not in keys:
            continue
        x = np.ascontiguousarray(features, dtype=np.float64)
        estimator.fit(x, y)
        order = np.random.default_rng(SEED).permutation(len(x))
        rows = {n: x[order[:n]] for n in BODY_ROWS}
        model = BenchModel(
            key=key,
            title=title,
            name=key,
            n_features=int(x.shape[1]),
            rows={n: r.tolist() for n, r in rows.items()},
            expected={n: [int(v) for v in estimator.predict(r)] for n, r in rows.items()},
        )
        base = work / "models" / key
        base.mkdir(parents=True, exist_ok=True)
        model.paths["joblib"] = base / "model.joblib"
        joblib.dump(estimator, model.paths["joblib"])
        model.paths["example"] = base / "example.json"
        model.paths["example"].write_text(json.dumps(x[:2].tolist()))
        model.paths["shipyard"] = base / "shipyard"
        save_model(estimator, model.paths["shipyard"], input_example=x[:2])
        out.append(model)
    return out


def save_mlflow(model: BenchModel, python: Path, work: Path) -> Path:
    """Write ``model`` as an MLflow model directory with the MLflow venv's Python."""
    from benchmarks.logging_throughput import run_checked

    script = work / "mlflow_save.py"
    if not script.exists():
        script.write_text(MLFLOW_SAVE)
    target = model.paths["joblib"].parent / "mlflow"
    if not (target / "MLmodel").exists():
        run_checked(
            [str(python), str(script), str(model.paths["joblib"]), str(target), str(model.paths["example"])],
            timeout_s=300,
        )
    model.paths["mlflow"] = target
    return target


if __name__ == "__main__":  # a quick look: python -m benchmarks.serving.models DIR
    import tempfile

    where = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="shipyard-bench-models-"))
    for m in train_models(where, ["iris", "gbm"]):
        print(m.key, m.n_features, m.expected[1], {k: str(v) for k, v in m.paths.items()})
