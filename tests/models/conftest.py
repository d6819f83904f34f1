"""Small datasets bundled with scikit-learn (no downloads) and a few fitted models, shared per session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris


@dataclass(frozen=True)
class Dataset:
    X: pd.DataFrame
    y: Any

    @property
    def array(self) -> Any:
        return self.X.to_numpy()


@pytest.fixture(scope="session")
def iris() -> Dataset:
    X, y = load_iris(return_X_y=True, as_frame=True)
    return Dataset(X, y.to_numpy())


@pytest.fixture(scope="session")
def breast_cancer() -> Dataset:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return Dataset(X, y.to_numpy())


@pytest.fixture(scope="session")
def diabetes() -> Dataset:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    return Dataset(X, y.to_numpy())


@pytest.fixture(scope="session")
def iris_pipeline(iris: Dataset) -> Any:
    """StandardScaler + LogisticRegression fitted on the iris DataFrame (feature names known)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(iris.X, iris.y)
