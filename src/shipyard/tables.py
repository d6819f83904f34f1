"""Imports every domain's tables so ``Base.metadata`` is complete (for Alembic and tests)."""

from shipyard.artifacts.tables import BlobRecord
from shipyard.events.tables import Event
from shipyard.projects.tables import Project
from shipyard.registry.tables import (
    ModelAlias,
    ModelAliasChange,
    ModelTag,
    ModelVersion,
    ModelVersionFile,
    ModelVersionTag,
    RegisteredModel,
)
from shipyard.tracking.tables import (
    Dataset,
    Experiment,
    ExperimentTag,
    LatestMetric,
    Metric,
    Param,
    Run,
    RunArtifact,
    RunInput,
    RunTag,
)

__all__ = [
    "BlobRecord",
    "Dataset",
    "Event",
    "Experiment",
    "ExperimentTag",
    "LatestMetric",
    "Metric",
    "ModelAlias",
    "ModelAliasChange",
    "ModelTag",
    "ModelVersion",
    "ModelVersionFile",
    "ModelVersionTag",
    "Param",
    "Project",
    "RegisteredModel",
    "Run",
    "RunArtifact",
    "RunInput",
    "RunTag",
]
