"""Alerting: rules over monitor results, pushed series and serving metrics; webhook
receivers with retried, recorded deliveries; SLOs with multi-window burn-rate alerts.
Reference: ``docs/alerts.md``.

- :mod:`~shipyard.alerts.states` — the alert state machine (pure);
- :mod:`~shipyard.alerts.burn` — counters, error ratios, burn rates, quantiles (pure);
- :mod:`~shipyard.alerts.delivery` / :mod:`~shipyard.alerts.payloads` — webhooks;
- :mod:`~shipyard.alerts.evaluation` — one evaluation pass over a project's stores;
- :mod:`~shipyard.alerts.schemas` — the specs users write and the API's replies.
"""

from shipyard.alerts.burn import DEFAULT_BURN_WINDOWS, BurnWindow, Sample, burn_readings
from shipyard.alerts.schemas import MetricsTarget, ReceiverSpec, RetryPolicy, RuleSpec, SLOSpec
from shipyard.alerts.states import AlertState, AlertStatus, Condition, Observation, fingerprint, step

__all__ = [
    "AlertState",
    "AlertStatus",
    "BurnWindow",
    "Condition",
    "DEFAULT_BURN_WINDOWS",
    "MetricsTarget",
    "Observation",
    "ReceiverSpec",
    "RetryPolicy",
    "RuleSpec",
    "SLOSpec",
    "Sample",
    "burn_readings",
    "fingerprint",
    "step",
]
