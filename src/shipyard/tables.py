"""Imports every domain's tables so ``Base.metadata`` is complete (for Alembic and tests)."""

from shipyard.artifacts.tables import BlobRecord
from shipyard.audit.tables import AuditCheckpoint, AuditHead
from shipyard.auth.tables import ApiToken, Principal, RoleBinding
from shipyard.deploy.tables import Endpoint, EndpointRollout, EndpointTransition
from shipyard.events.tables import Event
from shipyard.projects.tables import Project
from shipyard.registry.tables import (
    AliasChangeRequest,
    ModelAlias,
    ModelAliasChange,
    ModelTag,
    ModelVersion,
    ModelVersionFile,
    ModelVersionTag,
    ProtectedAlias,
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
    "AliasChangeRequest",
    "ApiToken",
    "AuditCheckpoint",
    "AuditHead",
    "BlobRecord",
    "Dataset",
    "Endpoint",
    "EndpointRollout",
    "EndpointTransition",
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
    "Principal",
    "Project",
    "ProtectedAlias",
    "RegisteredModel",
    "RoleBinding",
    "Run",
    "RunArtifact",
    "RunInput",
    "RunTag",
]
