"""A self-contained HTML monitoring report: one file that opens offline (no CDN, no script,
no external URL): plots are PNGs inlined as ``data:`` URIs (matplotlib, Agg), tables are
plain HTML.

Sections, each present when its data is given:

* **Summary** — a table of facts (e.g. the monitor, its window, its latest result) and notes
  (e.g. "no results yet");
* **Alerts** — alert instances (e.g. ``Client.iter_alerts()``);
* **Drift** — the latest :class:`~shipyard.monitoring.drift.DriftReport` as a table;
* **Distributions** — reference vs current per feature (overlaid histograms for numbers,
  side-by-side category shares for categories);
* **Drift over time** — the dataset drift share per monitor result, with the threshold;
* **Performance over time** — each metric per monitor result;
* **Per-slice performance** — one row per slice (column = value) and metric.

:func:`history_from_results` turns stored monitor results (``monitor_results`` rows, or
any objects / dicts with ``window_end``, ``drift_share`` and ``performance``) into the
time series and slice rows this takes.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MAX_FEATURES = 40
MAX_CATEGORIES = 20

Series = Sequence[tuple[datetime, float]]


@dataclass
class History:
    """What :func:`history_from_results` extracts from monitor results."""

    drift_share: list[tuple[datetime, float]] = field(default_factory=list)
    performance: dict[str, list[tuple[datetime, float]]] = field(default_factory=dict)
    slices: list[dict[str, Any]] = field(default_factory=list)  # of the latest result with slices
    features: list[dict[str, Any]] = field(default_factory=list)  # per-column drift of the latest result


def _get(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)


def history_from_results(results: Iterable[Any]) -> History:
    """Time series (oldest first) and the latest per-slice rows from monitor results."""
    history = History()
    latest_slices: tuple[datetime, list[dict[str, Any]]] | None = None
    for result in sorted(results, key=lambda r: _get(r, "window_end")):
        at = _get(result, "window_end")
        share = _get(result, "drift_share")
        if share is not None:
            history.drift_share.append((at, float(share)))
        performance = _get(result, "performance") or {}
        for metric, value in (performance.get("metrics") or {}).items():
            if isinstance(value, int | float):
                history.performance.setdefault(metric, []).append((at, float(value)))
        if performance.get("slices"):
            latest_slices = (at, list(performance["slices"]))
        if _get(result, "features"):
            history.features = list(_get(result, "features"))
    if latest_slices is not None:
        for item in latest_slices[1]:
            row = {"column": item.get("column"), "value": item.get("value"), "rows": item.get("rows")}
            history.slices.append(row | dict(item.get("metrics") or {}))
    return history


# -- plots --------------------------------------------------------------------------------------
def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _figure(width: float = 6.0, height: float = 2.6) -> Any:
    from matplotlib.figure import Figure  # no pyplot: no global state, safe in threads

    return Figure(figsize=(width, height))


def _img(src: str, alt: str) -> str:
    return f'<img src="{src}" alt="{html.escape(alt)}">'


def _distribution(name: str, reference: Any, current: Any) -> str:
    import numpy as np
    import pandas as pd

    ref = reference.dropna() if reference is not None else pd.Series(dtype=float)
    cur = current.dropna() if current is not None else pd.Series(dtype=float)
    fig = _figure(4.2, 2.4)
    ax = fig.subplots()
    numeric = pd.api.types.is_numeric_dtype(ref) and not pd.api.types.is_bool_dtype(ref) and ref.nunique() > 10
    if numeric:
        both = np.concatenate([ref.to_numpy(dtype=float), cur.to_numpy(dtype=float)])
        both = both[np.isfinite(both)]
        bins = np.histogram_bin_edges(both, bins=30) if both.size else 10
        ax.hist(ref.to_numpy(dtype=float), bins=bins, density=True, alpha=0.5, label="reference")
        ax.hist(cur.to_numpy(dtype=float), bins=bins, density=True, alpha=0.5, label="current")
    else:
        shares_ref = ref.astype(str).value_counts(normalize=True)
        shares_cur = cur.astype(str).value_counts(normalize=True)
        names = list(shares_ref.add(shares_cur, fill_value=0).sort_values(ascending=False).index[:MAX_CATEGORIES])
        x = np.arange(len(names))
        ax.bar(x - 0.2, [shares_ref.get(n, 0.0) for n in names], 0.4, label="reference")
        ax.bar(x + 0.2, [shares_cur.get(n, 0.0) for n in names], 0.4, label="current")
        ax.set_xticks(x, names, rotation=45, ha="right", fontsize=7)
        ax.set_ylabel("share")
    ax.set_title(name, fontsize=9)
    ax.legend(fontsize=7)
    return _img(_png(fig), f"distribution of {name}")


def _lines(title: str, series: Mapping[str, Series], threshold: float | None = None) -> str:
    fig = _figure()
    ax = fig.subplots()
    for label, points in series.items():
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker="o", markersize=3, label=label)
    if threshold is not None:
        ax.axhline(threshold, color="red", linestyle="--", linewidth=1, label="threshold")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.autofmt_xdate()
    return _img(_png(fig), title)


# -- html ---------------------------------------------------------------------------------------
def _table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        if isinstance(v, datetime):
            return v.isoformat(timespec="seconds")
        return "" if v is None else str(v)

    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(anchor: str, title: str, content: str) -> str:
    return f'<section id="{anchor}"><h2>{html.escape(title)}</h2>{content}</section>'


STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}h1{font-size:1.5em}
h2{font-size:1.2em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left}
th{background:#f4f4f4}.grid{display:flex;flex-wrap:wrap;gap:1em}.drifted{color:#b00;font-weight:bold}
.muted{color:#777}img{max-width:100%}.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.4em .8em}"""


def render_report(
    *,
    endpoint: str,
    summary: Mapping[str, Any] | None = None,
    notes: Sequence[str] = (),
    reference: Any | None = None,
    current: Any | None = None,
    columns: Sequence[str] | None = None,
    drift: Any | None = None,
    drift_history: Series = (),
    drift_threshold: float | None = None,
    performance_history: Mapping[str, Series] | None = None,
    slices: Sequence[Mapping[str, Any]] = (),
    alerts: Sequence[Any] = (),
    title: str | None = None,
    generated_at: datetime | None = None,
) -> str:
    """The report as one HTML string (see the module docstring; every argument optional
    but ``endpoint``). ``summary``: label -> value rows; ``notes``: sentences shown under it
    (what is missing and why); ``reference``/``current``: pandas DataFrames or Arrow tables;
    ``drift``: a DriftReport, or a monitor result's ``features`` (a list of column dicts);
    ``alerts``: AlertOut-like objects."""
    generated = (generated_at or datetime.now(UTC)).isoformat(timespec="seconds")
    heading = title or f"Monitoring report: {endpoint}"
    parts = [
        f"<h1>{html.escape(heading)}</h1>",
        f'<p class="muted">endpoint {html.escape(endpoint)} · generated {html.escape(generated)}</p>',
    ]
    if summary or notes:
        facts = _table(["item", "value"], [[k, v] for k, v in summary.items()]) if summary else ""
        remarks = "".join(f'<p class="note">{html.escape(n)}</p>' for n in notes)
        parts.append(_section("summary", "Summary", remarks + facts))
    if alerts:
        rows = [
            [
                _get(a, "name"),
                _get(a, "status"),
                _get(a, "severity"),
                _get(a, "value"),
                ", ".join(f"{k}={v}" for k, v in sorted((_get(a, "labels") or {}).items())),
                _get(a, "fired_at") or _get(a, "active_since"),
                _get(a, "summary"),
            ]
            for a in alerts
        ]
        parts.append(
            _section(
                "alerts", "Alerts", _table(["name", "status", "severity", "value", "labels", "since", "summary"], rows)
            )
        )
    if drift is not None:
        columns_ = [c if isinstance(c, Mapping) else c.model_dump() for c in _get(drift, "columns") or drift]
        drifted = sum(1 for c in columns_ if c.get("drifted"))
        keys = ["column", "kind", "method", "statistic", "threshold", "drifted", "reference_size", "current_size"]
        rows = [[("DRIFT" if c.get(k) else "") if k == "drifted" else c.get(k) for k in keys] for c in columns_]
        dataset = _get(drift, "dataset_drift") if not isinstance(drift, list) else None
        verdict = {True: "drift detected: ", False: "no dataset drift: ", None: ""}[dataset]
        verdict_line = (
            f'<p class="{"drifted" if dataset else ""}">{verdict}{drifted} of {len(columns_)} columns drifted</p>'
        )
        table = _table(
            ["column", "kind", "method", "statistic", "threshold", "drifted", "reference n", "current n"], rows
        )
        parts.append(_section("drift", "Drift", verdict_line + table))
    if reference is not None and current is not None:
        ref, cur = _frame(reference), _frame(current)
        names = [c for c in (columns or list(ref.columns)) if c in ref.columns and c in cur.columns][:MAX_FEATURES]
        plots = "".join(_distribution(n, ref[n], cur[n]) for n in names)
        parts.append(
            _section("distributions", "Distributions: reference vs current", f'<div class="grid">{plots}</div>')
        )
    if drift_history:
        threshold = drift_threshold if drift_threshold is not None else _get(drift, "drift_share")
        parts.append(
            _section(
                "drift-over-time",
                "Drift over time",
                _lines("dataset drift share", {"drift share": drift_history}, threshold),
            )
        )
    if performance_history:
        parts.append(
            _section("performance-over-time", "Performance over time", _lines("performance", performance_history))
        )
    if slices:
        keys = [k for k in slices[0] if k not in ("column", "value", "rows")]
        rows = [[s.get("column"), s.get("value"), s.get("rows"), *(s.get(k) for k in keys)] for s in slices]
        parts.append(_section("slices", "Per-slice performance", _table(["column", "value", "rows", *keys], rows)))
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(heading)}</title><style>{STYLE}</style></head><body>{body}</body></html>\n"
    )


def _frame(data: Any) -> Any:
    return data.to_pandas() if hasattr(data, "to_pandas") and not hasattr(data, "iloc") else data


def write_report(path: Path | str, **kwargs: Any) -> Path:
    """Write :func:`render_report`'s HTML to ``path`` (same keyword arguments); returns it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_report(**kwargs), encoding="utf-8")
    return target


__all__ = ["History", "history_from_results", "render_report", "write_report"]
