"""Offline evaluation: standard metrics, bootstrap confidence intervals, slices, reports.

- :mod:`shipyard.evaluation.metrics` — classification and regression metrics (pure numpy),
  computed for many bootstrap resamples at once;
- :mod:`shipyard.evaluation.bootstrap` — seeded resampling, intervals, McNemar's exact test;
- :mod:`shipyard.evaluation.compute` — metrics, baseline metrics and paired deltas per slice;
- :mod:`shipyard.evaluation.evaluate` — ``shipyard.evaluate``: load, score, log, attach
  (imported on use: it needs the client and the serving runtime);
- :mod:`shipyard.evaluation.report` / :mod:`~shipyard.evaluation.plots` — HTML report, PNG plots.

Reference: ``docs/gates.md``.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.evaluation.errors import EvaluationInputError
    from shipyard.evaluation.metrics import (
        CalibrationCurve,
        calibration_curve,
        classification_metrics,
        confusion,
        regression_metrics,
    )
    from shipyard.evaluation.schemas import EvaluationResult

# Imported on first use (PEP 562): the gates and the tables import this package in the
# control plane, which must start without numpy (the evaluation extra).
_LAZY = {
    "EvaluationInputError": "shipyard.evaluation.errors",
    "EvaluationResult": "shipyard.evaluation.schemas",
    **dict.fromkeys(
        ["CalibrationCurve", "calibration_curve", "classification_metrics", "confusion", "regression_metrics"],
        "shipyard.evaluation.metrics",
    ),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'shipyard.evaluation' has no attribute {name!r}")
    return getattr(import_module(module), name)


__all__ = [
    "CalibrationCurve",
    "EvaluationInputError",
    "EvaluationResult",
    "calibration_curve",
    "classification_metrics",
    "confusion",
    "regression_metrics",
]
