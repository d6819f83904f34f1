"""Monitoring through the SDK: ``client.monitoring.feedback(...)``, monitors, their runs and results,
and (on this machine) SQL over the prediction log."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from shipyard.client.base import BaseClient, _all_pages, _page
from shipyard.errors import InvalidArgument
from shipyard.monitoring.feedback import UNKNOWN_SAMPLE, FeedbackItem, FeedbackResult
from shipyard.monitoring.schemas import (
    MonitorIn,
    MonitorList,
    MonitorOut,
    MonitorResultList,
    MonitorResultOut,
    RunDueOut,
)
from shipyard.store.pagination import Page

if TYPE_CHECKING:
    from shipyard.monitoring.logstore import QueryResult

FEEDBACK_CHUNK = 10_000  # labels per request


def _items(
    labels: Any, by: str, id_column: str, label_column: str, row_column: str | None, ts_column: str | None
) -> list[Any]:
    """Labels as JSON-able dicts: from FeedbackItems, mappings, or a DataFrame's columns."""
    if type(labels).__module__.split(".")[0] == "pandas":
        frame = labels
        for name, option in ((id_column, "id_column"), (label_column, "label_column")):
            if name not in frame.columns:
                raise InvalidArgument(f"the labels have no column {name!r} ({option})", {"field": option})
        key = by
        out = []
        ids = frame[id_column].astype(str).tolist()
        values = frame[label_column].tolist()
        rows = frame[row_column].tolist() if row_column else None
        stamps = frame[ts_column].tolist() if ts_column else None
        for i, (ident, value) in enumerate(zip(ids, values, strict=True)):
            item: dict[str, Any] = {key: ident, "label": value.item() if hasattr(value, "item") else value}
            if rows is not None and rows[i] == rows[i]:  # not NaN
                item["row"] = int(rows[i])
            if stamps is not None and stamps[i] is not None:
                item["ts"] = stamps[i].isoformat() if hasattr(stamps[i], "isoformat") else str(stamps[i])
            out.append(item)
        return out
    if isinstance(labels, Iterable):
        return [
            item.model_dump(mode="json", exclude_none=True) if isinstance(item, FeedbackItem) else dict(item)
            for item in labels
        ]
    raise InvalidArgument("labels must be a DataFrame or a list of labels", {"field": "labels"})


class MonitoringAPI:
    """``client.monitoring``: feedback, monitors, results."""

    def __init__(self, client: BaseClient) -> None:
        self._client = client

    def _base(self, project: str | None) -> str:
        return f"/api/v1/projects/{self._client._project(project)}"

    # -- feedback ------------------------------------------------------------------------
    def feedback(
        self,
        endpoint: str,
        labels: Any,
        *,
        id_column: str = "request_id",
        label_column: str = "label",
        by: Literal["request_id", "key"] | None = None,
        row_column: str | None = None,
        ts_column: str | None = None,
        project: str | None = None,
    ) -> FeedbackResult:
        """Send ground-truth labels for ``endpoint``'s predictions.

        ``labels``: a list of ``{"request_id" | "key": ..., "label": ..., "row"?: ..., "ts"?: ...}``
        (or :class:`FeedbackItem`), or a DataFrame whose ``id_column`` holds the ids and
        ``label_column`` the labels; ``by`` says whether the ids are request ids or user keys
        (default: request ids when ``id_column`` is ``request_id``, else keys). Sent in chunks
        of :data:`FEEDBACK_CHUNK`; the counts are summed."""
        kind = by or ("request_id" if id_column == "request_id" else "key")
        items = _items(labels, kind, id_column, label_column, row_column, ts_column)
        if not items:
            raise InvalidArgument("no labels to send", {"field": "labels"})
        total = FeedbackResult(accepted=0, duplicates=0, unknown=0, unknown_ids_sample=[])
        path = f"{self._base(project)}/endpoints/{endpoint}/feedback"
        for start in range(0, len(items), FEEDBACK_CHUNK):
            part = self._client._json("POST", path, FeedbackResult, json=items[start : start + FEEDBACK_CHUNK])
            total.accepted += part.accepted
            total.duplicates += part.duplicates
            total.unknown += part.unknown
            total.unknown_ids_sample = (total.unknown_ids_sample + part.unknown_ids_sample)[:UNKNOWN_SAMPLE]
        return total

    # -- monitors ------------------------------------------------------------------------
    def create_monitor(self, name: str, endpoint: str, *, project: str | None = None, **spec: Any) -> MonitorOut:
        """Create a monitor of ``endpoint``; ``spec`` holds the other :class:`MonitorSpec` fields
        (``window``, ``reference``, ``columns``, ``drift``, ``quality``, ``performance``, ``schedule``)."""
        body = MonitorIn.model_validate({"name": name, "endpoint": endpoint, **spec})
        return self._client._json(
            "POST", f"{self._base(project)}/monitors", MonitorOut, json=body.model_dump(mode="json", exclude_unset=True)
        )

    def get_monitor(self, name: str, *, project: str | None = None) -> MonitorOut:
        return self._client._json("GET", f"{self._base(project)}/monitors/{name}", MonitorOut)

    def list_monitors(
        self, *, max_results: int | None = None, page_token: str | None = None, project: str | None = None
    ) -> Page[MonitorOut]:
        body = self._client._json(
            "GET", f"{self._base(project)}/monitors", MonitorList, params=_page(max_results, page_token)
        )
        return Page(items=body.monitors, next_page_token=body.next_page_token)

    def iter_monitors(self, *, project: str | None = None) -> Iterator[MonitorOut]:
        return _all_pages(lambda page_token: self.list_monitors(page_token=page_token, project=project))

    def delete_monitor(self, name: str, *, project: str | None = None) -> None:
        self._client._request("DELETE", f"{self._base(project)}/monitors/{name}")

    def run_monitor(self, name: str, *, project: str | None = None) -> MonitorResultOut:
        """Run the monitor now over its window; the stored result."""
        return self._client._json("POST", f"{self._base(project)}/monitors/{name}/run", MonitorResultOut)

    def run_due(self, *, project: str | None = None) -> list[MonitorResultOut]:
        """Run the project's monitors whose schedule is due; their results."""
        return self._client._json("POST", f"{self._base(project)}/monitors/run-due", RunDueOut).results

    def monitor_results(
        self, name: str, *, max_results: int | None = None, page_token: str | None = None, project: str | None = None
    ) -> Page[MonitorResultOut]:
        """The monitor's results, newest first."""
        body = self._client._json(
            "GET",
            f"{self._base(project)}/monitors/{name}/results",
            MonitorResultList,
            params=_page(max_results, page_token),
        )
        return Page(items=body.results, next_page_token=body.next_page_token)

    def report(self, name: str, *, results: int = 50, project: str | None = None) -> str:
        """The monitor's self-contained HTML report (plots inlined; opens offline), rendered where
        the prediction log is: by the server, or in this process in local mode. ``results``: how
        many of its newest results make the time series."""
        path = f"{self._base(project)}/monitors/{name}/report"
        return self._client._request("GET", path, params={"results": results}).text

    # -- the log, on this machine ---------------------------------------------------------
    def query(self, sql: str, *, limit: int = 1000, project: str | None = None) -> QueryResult:
        """Run DuckDB SQL over the prediction log and feedback **on this machine** (the
        directories of this client's ``monitoring`` settings), with the views ``predictions``,
        ``feedback`` and ``predictions_with_feedback`` (of ``project`` if given, else every project)."""
        from shipyard.monitoring.logstore import LogStore

        return LogStore.from_settings(self._client.settings).query(sql, limit=limit, project=project)


class MonitoringMixin(BaseClient):
    @cached_property
    def monitoring(self) -> MonitoringAPI:
        """Feedback, monitors and their results: ``client.monitoring.feedback(...)``."""
        return MonitoringAPI(self)


__all__ = ["FEEDBACK_CHUNK", "MonitoringAPI", "MonitoringMixin"]
