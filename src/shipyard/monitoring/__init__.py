"""Monitoring: drift and data quality of model inputs and predictions.

- :mod:`shipyard.monitoring.drift` — per-column drift (KS, normed Wasserstein, PSI,
  chi-squared, z-test, Jensen-Shannon) and the dataset-level drift share;
- :mod:`shipyard.monitoring.quality` — schema conformance, missing values, out-of-range
  values, unseen categories, duplicate rows;
- :mod:`shipyard.monitoring.profiles` — column profiles and bounded-memory streaming sketches.

Pure computation: no database, no HTTP. Reference: ``docs/monitoring.md``.
"""

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
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
    from shipyard.monitoring.profiles import DatasetProfile, Profiler, profile_batches, profile_frame
    from shipyard.monitoring.quality import (
        ColumnFacts,
        ColumnRule,
        QualityCheck,
        QualityProfile,
        QualityProfiler,
        QualityReport,
        QualitySpec,
        check_quality,
        check_quality_profile,
        infer_quality_spec,
        infer_quality_spec_from_profile,
        quality_profile,
    )

# name -> module. Imported on first use (PEP 562): the tables and the service layer import
# this package, and the control plane must start without numpy (the monitoring extra).
_LAZY = {
    **dict.fromkeys(
        ["DEFAULT_THRESHOLDS", "ColumnKind", "ColumnRule", "DriftSpec", "Method", "MethodChoice", "QualitySpec"],
        "shipyard.monitoring.specs",
    ),
    **dict.fromkeys(
        [
            "ColumnDrift",
            "DriftReport",
            "compare_profiles",
            "detect_drift",
            "detect_drift_by_slice",
            "detect_drift_parquet",
        ],
        "shipyard.monitoring.drift",
    ),
    "MonitoringInputError": "shipyard.monitoring.errors",
    **dict.fromkeys(["DatasetProfile", "Profiler", "profile_batches", "profile_frame"], "shipyard.monitoring.profiles"),
    **dict.fromkeys(
        [
            "ColumnFacts",
            "QualityCheck",
            "QualityProfile",
            "QualityProfiler",
            "QualityReport",
            "check_quality",
            "check_quality_profile",
            "infer_quality_spec",
            "infer_quality_spec_from_profile",
            "quality_profile",
        ],
        "shipyard.monitoring.quality",
    ),
}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'shipyard.monitoring' has no attribute {name!r}")
    return getattr(_importlib.import_module(module), name)


__all__ = [
    "DEFAULT_THRESHOLDS",
    "ColumnDrift",
    "ColumnFacts",
    "ColumnKind",
    "ColumnRule",
    "DatasetProfile",
    "DriftReport",
    "DriftSpec",
    "Method",
    "MethodChoice",
    "MonitoringInputError",
    "Profiler",
    "QualityCheck",
    "QualityProfile",
    "QualityProfiler",
    "QualityReport",
    "QualitySpec",
    "check_quality",
    "check_quality_profile",
    "compare_profiles",
    "detect_drift",
    "detect_drift_by_slice",
    "detect_drift_parquet",
    "infer_quality_spec",
    "infer_quality_spec_from_profile",
    "profile_batches",
    "profile_frame",
    "quality_profile",
]
