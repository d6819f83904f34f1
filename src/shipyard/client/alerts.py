"""Alerting through the SDK: rules, receivers, SLOs, evaluation passes, alerts, deliveries."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from shipyard.alerts.schemas import (
    AlertList,
    AlertOut,
    DeliveryList,
    DeliveryOut,
    EvaluationOut,
    NotificationOut,
    ObservationsOut,
    ReceiverList,
    ReceiverOut,
    ReceiverSpec,
    RuleList,
    RuleOut,
    RuleSpec,
    SLOList,
    SLOOut,
    SLOSpec,
    SLOStatus,
    parse_as,
)
from shipyard.client.base import BaseClient, _all_pages, _page
from shipyard.store.pagination import Page


class AlertsAPI(BaseClient):
    def _alerts(self, project: str | None) -> str:
        return f"/api/v1/projects/{self._project(project)}/alerts"

    # -- rules -----------------------------------------------------------------------------
    def put_alert_rule(self, spec: RuleSpec | Mapping[str, Any], *, project: str | None = None) -> RuleOut:
        """Create or replace a rule (``outcome``: created, updated or unchanged)."""
        rule = parse_as(RuleSpec, spec)
        body = rule.model_dump(mode="json", by_alias=True)
        return self._json("PUT", f"{self._alerts(project)}/rules/{rule.name}", RuleOut, json=body)

    def get_alert_rule(self, name: str, *, project: str | None = None) -> RuleOut:
        return self._json("GET", f"{self._alerts(project)}/rules/{name}", RuleOut)

    def iter_alert_rules(self, *, project: str | None = None) -> Iterator[RuleOut]:
        def fetch(page_token: str | None) -> Page[RuleOut]:
            body = self._json("GET", f"{self._alerts(project)}/rules", RuleList, params=_page(None, page_token))
            return Page(items=body.rules, next_page_token=body.next_page_token)

        return _all_pages(fetch)

    def delete_alert_rule(self, name: str, *, project: str | None = None) -> None:
        self._request("DELETE", f"{self._alerts(project)}/rules/{name}")

    # -- receivers -------------------------------------------------------------------------
    def put_alert_receiver(self, spec: ReceiverSpec | Mapping[str, Any], *, project: str | None = None) -> ReceiverOut:
        """Create or replace a webhook receiver. The reply shows the URL redacted."""
        receiver = parse_as(ReceiverSpec, spec)
        body = receiver.model_dump(mode="json")
        return self._json("PUT", f"{self._alerts(project)}/receivers/{receiver.name}", ReceiverOut, json=body)

    def get_alert_receiver(self, name: str, *, project: str | None = None) -> ReceiverOut:
        return self._json("GET", f"{self._alerts(project)}/receivers/{name}", ReceiverOut)

    def iter_alert_receivers(self, *, project: str | None = None) -> Iterator[ReceiverOut]:
        def fetch(page_token: str | None) -> Page[ReceiverOut]:
            body = self._json("GET", f"{self._alerts(project)}/receivers", ReceiverList, params=_page(None, page_token))
            return Page(items=body.receivers, next_page_token=body.next_page_token)

        return _all_pages(fetch)

    def delete_alert_receiver(self, name: str, *, project: str | None = None) -> None:
        self._request("DELETE", f"{self._alerts(project)}/receivers/{name}")

    def test_alert_receiver(self, name: str, *, project: str | None = None) -> NotificationOut:
        """Send a test notification now; its attempts appear in :meth:`iter_alert_deliveries`."""
        return self._json("POST", f"{self._alerts(project)}/receivers/{name}/test", NotificationOut)

    # -- SLOs ------------------------------------------------------------------------------
    def put_slo(self, spec: SLOSpec | Mapping[str, Any], *, project: str | None = None) -> SLOOut:
        slo = parse_as(SLOSpec, spec)
        return self._json("PUT", f"{self._alerts(project)}/slos/{slo.name}", SLOOut, json=slo.model_dump(mode="json"))

    def get_slo(self, name: str, *, project: str | None = None) -> SLOOut:
        return self._json("GET", f"{self._alerts(project)}/slos/{name}", SLOOut)

    def slo_status(self, name: str, *, project: str | None = None) -> SLOStatus:
        return self._json("GET", f"{self._alerts(project)}/slos/{name}/status", SLOStatus)

    def iter_slos(self, *, project: str | None = None) -> Iterator[SLOOut]:
        def fetch(page_token: str | None) -> Page[SLOOut]:
            body = self._json("GET", f"{self._alerts(project)}/slos", SLOList, params=_page(None, page_token))
            return Page(items=body.slos, next_page_token=body.next_page_token)

        return _all_pages(fetch)

    def delete_slo(self, name: str, *, project: str | None = None) -> None:
        self._request("DELETE", f"{self._alerts(project)}/slos/{name}")

    # -- evaluation, alerts, deliveries ----------------------------------------------------
    def evaluate_alerts(self, *, deliver: bool = True, project: str | None = None) -> EvaluationOut:
        """One evaluation pass (what ``shipyard alerts evaluate`` runs from cron)."""
        return self._json("POST", f"{self._alerts(project)}/evaluate", EvaluationOut, json={"deliver": deliver})

    def push_observations(
        self,
        series: str,
        values: Sequence[float | tuple[datetime, float]],
        *,
        labels: Mapping[str, str] | None = None,
        project: str | None = None,
    ) -> int:
        """Push values (now, or ``(at, value)`` pairs) to a series a ``series`` rule watches."""
        items = []
        for v in values:
            at, value = (v[0].isoformat(), v[1]) if isinstance(v, tuple) else (None, v)
            items.append({"series": series, "value": value, "at": at, "labels": dict(labels or {})})
        body = {"observations": items}
        return self._json("POST", f"{self._alerts(project)}/observations", ObservationsOut, json=body).stored

    def list_alerts(
        self,
        *,
        status: str | None = None,
        max_results: int | None = None,
        page_token: str | None = None,
        project: str | None = None,
    ) -> Page[AlertOut]:
        params = _page(max_results, page_token) | ({"status": status} if status else {})
        body = self._json("GET", self._alerts(project), AlertList, params=params)
        return Page(items=body.alerts, next_page_token=body.next_page_token)

    def iter_alerts(self, *, status: str | None = None, project: str | None = None) -> Iterator[AlertOut]:
        return _all_pages(lambda page_token: self.list_alerts(status=status, page_token=page_token, project=project))

    def list_alert_deliveries(
        self,
        *,
        receiver: str | None = None,
        max_results: int | None = None,
        page_token: str | None = None,
        project: str | None = None,
    ) -> Page[DeliveryOut]:
        params = _page(max_results, page_token) | ({"receiver": receiver} if receiver else {})
        body = self._json("GET", f"{self._alerts(project)}/deliveries", DeliveryList, params=params)
        return Page(items=body.deliveries, next_page_token=body.next_page_token)

    def iter_alert_deliveries(
        self, *, receiver: str | None = None, project: str | None = None
    ) -> Iterator[DeliveryOut]:
        return _all_pages(
            lambda page_token: self.list_alert_deliveries(receiver=receiver, page_token=page_token, project=project)
        )


__all__ = ["AlertsAPI"]
