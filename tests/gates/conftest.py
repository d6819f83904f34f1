"""Real models on scikit-learn's bundled breast-cancer data, registered as versions of ``cancer``.

``region`` marks ~15% of the rows ``EU``. Version 1 (``medium``, three features) holds
``@production``; ``strong`` uses every feature; ``weak`` one feature; ``eu_broken`` is the strong
model that under-scores EU positives (better AUC globally, EU recall collapses);
``pickled`` is the strong model saved with the pickle (pyfunc) flavor.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from shipyard.client import Client
from shipyard.evaluation.evaluate import evaluate
from shipyard.models import save_model

MODEL = "cancer"


class EUBroken:
    """The strong model, but its EU positives are predicted negative (a pyfunc model)."""

    def __init__(self, model: Any, features: list[str]) -> None:
        self.model = model
        self.features = features
        self.classes_ = model.classes_

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray[Any, Any]:
        proba = self.model.predict_proba(frame[self.features])
        eu = (frame["region"] == "EU").to_numpy()
        proba[eu, 1] *= 0.3  # ranks kept (AUC barely moves), but EU positives now predicted negative
        proba[eu, 0] = 1 - proba[eu, 1]
        return proba

    def predict(self, frame: pd.DataFrame) -> np.ndarray[Any, Any]:
        return np.asarray(self.classes_)[self.predict_proba(frame).argmax(axis=1)]


@pytest.fixture(scope="session")
def cancer() -> dict[str, Any]:
    data = load_breast_cancer(as_frame=True)
    frame = data.data.copy()
    rng = np.random.default_rng(7)
    frame["region"] = np.where(rng.random(len(frame)) < 0.15, "EU", "US")
    frame["label"] = data.target
    features = list(data.data.columns)
    train = frame.sample(frac=0.5, random_state=0)
    test = frame.drop(train.index).reset_index(drop=True)

    def fit(columns: list[str]) -> Any:
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(train[columns], train["label"])

    strong = fit(features)
    return {
        "test": test,
        "features": features,
        "medium": (
            fit(["mean radius", "mean texture", "mean smoothness"]),
            ["mean radius", "mean texture", "mean smoothness"],
        ),
        "strong": (strong, features),
        "weak": (fit(["mean smoothness"]), ["mean smoothness"]),
        "eu_broken": (EUBroken(strong, features), [*features, "region"]),
    }


@dataclass
class Registry:
    client: Client
    tmp: Path
    cancer: dict[str, Any]

    def register(self, kind: str, *, flavor: str | None = None) -> int:
        model, columns = self.cancer[kind]
        directory = self.tmp / f"{kind}-{flavor}"
        save_model(model, directory, flavor=flavor, input_example=self.cancer["test"][columns].head(3))
        run = self.client.create_run(name=kind)
        self.client.log_artifacts(run.id, directory, artifact_path="model")
        return self.client.register_model(f"runs:/{run.id}/model", MODEL).version

    def evaluate(self, version: int, **options: Any) -> Any:
        settings: dict[str, Any] = {
            "targets": "label",
            "baseline": f"models:/{MODEL}@production",
            "slices": ["region"],
            "bootstrap": 200,
            "latency_requests": 20,
            "client": self.client,
        }
        return evaluate(f"models:/{MODEL}/{version}", self.cancer["test"], **(settings | options))


@pytest.fixture
def registry(client: Client, cancer: dict[str, Any], tmp_path: Path) -> Registry:
    found = Registry(client, tmp_path, cancer)
    first = found.register("medium")
    client.set_alias(MODEL, "production", first)
    return found
