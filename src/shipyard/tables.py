"""Imports every domain's tables so ``Base.metadata`` is complete (for Alembic and tests)."""

from shipyard.alerts.tables import (
    Alert,
    AlertDelivery,
    AlertNotification,
    AlertObservation,
    AlertReceiver,
    AlertRule,
    MetricSample,
    ServiceLevelObjective,
)
from shipyard.artifacts.tables import BlobRecord
from shipyard.audit.tables import AuditCheckpoint, AuditHead
from shipyard.auth.tables import ApiToken, Principal, RoleBinding
from shipyard.deploy.tables import Endpoint, EndpointRollout, EndpointTransition
from shipyard.events.tables import Event
from shipyard.gates.tables import GatePolicy, GateVerdict, ModelEvaluation
from shipyard.monitoring.tables import Monitor, MonitorResult
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
    "Alert",
    "AlertDelivery",
    "AlertNotification",
    "AlertObservation",
    "AlertReceiver",
    "AlertRule",
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
    "GatePolicy",
    "GateVerdict",
    "LatestMetric",
    "Metric",
    "MetricSample",
    "ModelAlias",
    "ModelAliasChange",
    "ModelEvaluation",
    "ModelTag",
    "ModelVersion",
    "ModelVersionFile",
    "ModelVersionTag",
    "Monitor",
    "MonitorResult",
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
    "ServiceLevelObjective",
]
