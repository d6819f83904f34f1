"""A self-contained HTML report of an evaluation: metrics with intervals, per-slice deltas,
confusion matrices, ROC and calibration curves (images inline, base64)."""

from __future__ import annotations

import base64
import html

from shipyard.evaluation.metrics import greater_is_better
from shipyard.evaluation.plots import plots
from shipyard.evaluation.schemas import Delta, Estimate, EvaluationResult, SliceResult

STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f4f4f4}td:first-child{text-align:left}"
    ".better{color:#137333}.worse{color:#b3261e}img{margin:0 1em 1em 0;vertical-align:top}"
)


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _ci(estimate: Estimate | None) -> str:
    if estimate is None:
        return "—"
    interval = "" if estimate.low is None else f" [{_num(estimate.low)}, {_num(estimate.high)}]"
    return f"{_num(estimate.value)}{interval}"


def _delta_cell(delta: Delta | None, greater_is_better: bool) -> str:
    if delta is None or delta.value is None:
        return "<td>—</td>"
    significant = delta.low is not None and delta.high is not None and (delta.low > 0 or delta.high < 0)
    better = (delta.value > 0) == greater_is_better
    css = ("better" if better else "worse") if significant else ""
    note = "" if significant else " (n.s.)"
    return f'<td class="{css}">{html.escape(_ci(delta))}{note}</td>'


def _metric_table(part: SliceResult, lower_is_better: set[str]) -> str:
    rows = []
    for name, estimate in part.metrics.items():
        gib = greater_is_better(name) and name not in lower_is_better
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td>{html.escape(_ci(estimate))}</td>"
            f"<td>{html.escape(_ci(part.baseline.get(name)))}</td>{_delta_cell(part.delta.get(name), gib)}</tr>"
        )
    head = "<tr><th>metric</th><th>candidate [CI]</th><th>baseline [CI]</th><th>delta [CI]</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _slice_table(result: EvaluationResult) -> str:
    if not result.slices:
        return ""
    names = [n for n in ("roc_auc", "accuracy", "recall", "f1", "rmse", "mae", "r2") if n in result.overall.metrics]
    head = "<tr><th>slice</th><th>rows</th>" + "".join(f"<th>{n} delta [CI]</th>" for n in names) + "</tr>"
    rows = [
        f"<tr><td>{html.escape(key)}</td><td>{part.n}</td>"
        + "".join(_delta_cell(part.delta.get(n), greater_is_better(n)) for n in names)
        + "</tr>"
        for key, part in result.slices.items()
    ]
    return f"<h2>Slices</h2><table>{head}{''.join(rows)}</table>"


def render_html(result: EvaluationResult, *, title: str | None = None) -> str:
    """The report as one HTML document."""
    model = (result.model.name and f"{result.model.name} v{result.model.version}") or result.model.uri
    baseline = (
        "none"
        if result.baseline is None
        else ((result.baseline.name and f"{result.baseline.name} v{result.baseline.version}") or result.baseline.uri)
    )
    heading = html.escape(title or f"Evaluation of {model}")
    dataset = (
        "" if result.dataset is None else f"dataset {html.escape(result.dataset.name)} ({result.dataset.rows} rows), "
    )
    images = "".join(
        f'<img alt="{html.escape(name)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
        for name, png in plots(result).items()
    )
    latency = ", ".join(f"{k} {v:.2f}" for k, v in result.latency.items())
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{heading}</title><style>{STYLE}</style></head>"
        f"<body><h1>{heading}</h1><p>baseline: {html.escape(baseline)}; {dataset}{result.bootstrap} bootstrap "
        f"resamples, {result.confidence:.0%} intervals, seed {result.seed}</p>"
        f"{f'<p>latency: {html.escape(latency)}</p>' if latency else ''}"
        f"<h2>Overall ({result.overall.n} rows)</h2>{_metric_table(result.overall, set(result.lower_is_better))}"
        f"{_slice_table(result)}<h2>Plots</h2>{images}</body></html>"
    )


__all__ = ["render_html"]
