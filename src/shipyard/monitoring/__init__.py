"""Monitoring: drift and data quality of model inputs and predictions.

- :mod:`shipyard.monitoring.drift` — per-column drift (KS, normed Wasserstein, PSI,
  chi-squared, z-test, Jensen-Shannon) and the dataset-level drift share;
- :mod:`shipyard.monitoring.quality` — schema conformance, missing values, out-of-range
  values, unseen categories, duplicate rows;
- :mod:`shipyard.monitoring.profiles` — column profiles and bounded-memory streaming sketches.

Pure computation: no database, no HTTP. Reference: ``docs/monitoring.md``.
"""

from shipyard.monitoring.drift import (
    DEFAULT_THRESHOLDS,
    ColumnDrift,
    ColumnKind,
    DriftReport,
    DriftSpec,
    Method,
    MethodChoice,
    compare_profiles,
    detect_drift,
    detect_drift_by_slice,
    detect_drift_parquet,
)
from shipyard.monitoring.errors import MonitoringInputError
from shipyard.monitoring.profiles import DatasetProfile, profile_batches, profile_frame
from shipyard.monitoring.quality import (
    ColumnRule,
    QualityCheck,
    QualityReport,
    QualitySpec,
    check_quality,
    infer_quality_spec,
)

__all__ = [
    "DEFAULT_THRESHOLDS",
    "ColumnDrift",
    "ColumnKind",
    "ColumnRule",
    "DatasetProfile",
    "DriftReport",
    "DriftSpec",
    "Method",
    "MethodChoice",
    "MonitoringInputError",
    "QualityCheck",
    "QualityReport",
    "QualitySpec",
    "check_quality",
    "compare_profiles",
    "detect_drift",
    "detect_drift_by_slice",
    "detect_drift_parquet",
    "infer_quality_spec",
    "profile_batches",
    "profile_frame",
]
