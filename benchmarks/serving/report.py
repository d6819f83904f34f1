"""Results: the JSON record, the targets of issue 4, and the Markdown summary."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.serving import matrix
from benchmarks.serving.models import BenchModel

TARGETS = {
    "iris_v2_c16_rps": 1800.0,
    "iris_v2_c1_p50_ms": 0.6,
    "gbm_c32_share_of_bare": 0.5,
    "gbm_c32_p99_ms": 25.0,
    "batching_cost_c1": 0.10,
    "batching_gain_gbm_c64": 3.0,
    "start_to_ready_s": 2.5,
    "rss_mb": 200.0,
}


def _find(cells: list[dict[str, Any]], series: str, model: str, c: int, rows: int) -> dict[str, Any] | None:
    for cell in cells:
        if cell["series"] == series and cell["model"] == model and cell["concurrency"] == c and cell["rows"] == rows:
            return cell
    return None


def _stat(cells: list[dict[str, Any]], series: str, model: str, c: int, rows: int, key: str = "rps") -> float | None:
    cell = _find(cells, series, model, c, rows)
    if cell is None:
        return None
    value: float | None = cell.get("summary", {}).get(key)
    return value


def _server(servers: list[dict[str, Any]], variant: str, model: str) -> dict[str, Any] | None:
    return next((s for s in servers if s["variant"] == variant and s["model"] == model), None)


def _target(name: str, what: str, met: bool | None, value: str) -> dict[str, Any]:
    return {"name": name, "target": what, "met": met, "value": value}


def targets(cells: list[dict[str, Any]], servers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    head = matrix.HEADLINE
    peers = [s for s in matrix.SERIES if s.peer]

    rps = _stat(cells, head, "iris", 16, 1)
    t = TARGETS["iris_v2_c16_rps"]
    out.append(
        _target(
            "iris_v2_c16",
            f"iris V2 single row, c=16: ≥ {t:,.0f} req/s",
            None if rps is None else rps >= t,
            "not measured" if rps is None else f"{rps:,.0f} req/s ({100 * (rps / t - 1):+.0f}% vs target)",
        )
    )
    found = [(s.title, v) for s in peers if (v := _stat(cells, s.key, "iris", 16, 1)) is not None]
    if rps is not None and found:
        best = max(found, key=lambda x: x[1])
        out.append(
            _target(
                "iris_c16_beats_peers",
                "iris single row, c=16: faster than every peer (any protocol)",
                rps > best[1],
                f"Shipyard V2 {rps:,.0f} vs best peer {best[0]} {best[1]:,.0f} req/s ({rps / best[1]:.2f}x)",
            )
        )
    p50 = _stat(cells, head, "iris", 1, 1, "p50_ms")
    t = TARGETS["iris_v2_c1_p50_ms"]
    out.append(
        _target(
            "iris_v2_c1_p50",
            f"iris V2 single row, c=1: p50 ≤ {t} ms",
            None if p50 is None else p50 <= t,
            "not measured" if p50 is None else f"p50 {p50:.3f} ms",
        )
    )
    gbm = _stat(cells, head, "gbm", 32, 1)
    bare = _stat(cells, "bare", "gbm", 32, 1)
    mlflow = _stat(cells, "mlflow", "gbm", 32, 1)
    t = TARGETS["gbm_c32_share_of_bare"]
    if gbm is not None and bare:
        extra = f"; {gbm / mlflow:.1f}x MLflow ({mlflow:,.0f} req/s)" if mlflow else ""
        out.append(
            _target(
                "gbm_c32_vs_bare",
                f"GBM single row, c=32: ≥ {100 * t:.0f}% of the bare ASGI app",
                gbm >= t * bare,
                f"{gbm:,.0f} vs bare {bare:,.0f} req/s = {100 * gbm / bare:.0f}%{extra}",
            )
        )
    p99 = _stat(cells, head, "gbm", 32, 1, "p99_ms")
    t = TARGETS["gbm_c32_p99_ms"]
    out.append(
        _target(
            "gbm_c32_p99",
            f"GBM single row, c=32: p99 < {t:.0f} ms",
            None if p99 is None else p99 < t,
            "not measured" if p99 is None else f"p99 {p99:.2f} ms",
        )
    )
    for model in ("iris", "gbm"):
        on = _stat(cells, head, model, 1, 1)
        off = _stat(cells, "shipyard-v2-nobatch", model, 1, 1)
        t = TARGETS["batching_cost_c1"]
        if on is not None and off:
            out.append(
                _target(
                    f"batching_cost_c1_{model}",
                    f"{model} single row, c=1: batching on costs ≤ {100 * t:.0f}% throughput",
                    on >= (1 - t) * off,
                    f"on {on:,.0f} vs off {off:,.0f} req/s ({100 * (on / off - 1):+.1f}%)",
                )
            )
    on = _stat(cells, head, "gbm", 64, 1)
    off = _stat(cells, "shipyard-v2-nobatch", "gbm", 64, 1)
    t = TARGETS["batching_gain_gbm_c64"]
    if on is not None and off:
        out.append(
            _target(
                "batching_gain_gbm_c64",
                f"GBM single row, c=64: batching at least {t:.0f}x throughput",
                on >= t * off,
                f"on {on:,.0f} vs off {off:,.0f} req/s = {on / off:.2f}x",
            )
        )
    entry = _server(servers, "shipyard", "iris")
    if entry and entry.get("start_to_ready_median_s") is not None:
        t = TARGETS["start_to_ready_s"]
        ready = entry["start_to_ready_median_s"]
        out.append(
            _target(
                "start_to_ready",
                f"iris (small scikit-learn model): start to ready < {t} s",
                ready < t,
                f"median {ready:.2f} s of {entry['start_to_ready_s']}",
            )
        )
        memory = entry.get("memory_after_load") or entry.get("memory_at_ready")
        if memory:
            t = TARGETS["rss_mb"]
            out.append(
                _target(
                    "rss",
                    f"iris: RSS < {t:.0f} MB",
                    memory["rss_mb"] < t,
                    f"RSS {memory['rss_mb']:.0f} MB after the load (PSS {memory['pss_mb']:.0f} MB; "
                    f"{entry.get('rss_at_ready_median_mb')} MB at ready)",
                )
            )
    return out


def build(
    cells: list[dict[str, Any]],
    servers: list[dict[str, Any]],
    machine: dict[str, Any],
    config: dict[str, Any],
    versions: dict[str, Any],
    notes: list[str],
    models: dict[str, BenchModel],
    seconds: float,
) -> dict[str, Any]:
    return {
        "benchmark": "serving",
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "machine": machine,
        "config": config,
        "versions": versions,
        "models": {
            k: {"title": m.title, "features": m.n_features, "body_rows": sorted(m.rows)} for k, m in models.items()
        },
        "series": {s.key: {"title": s.title, "variant": s.variant, "protocol": s.protocol} for s in matrix.SERIES},
        "targets": targets(cells, servers),
        "servers": servers,
        "cells": cells,
        "notes": notes,
    }


def _rate(v: float | None) -> str:
    return "—" if v is None else f"{v:,.0f}"


def _ms(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:,.0f}"


def _noisy(cell: dict[str, Any] | None) -> str:
    return " ⚠" if cell and cell.get("flags") else ""


def _present(report: dict[str, Any]) -> list[matrix.Series]:
    keys = {c["series"] for c in report["cells"]}
    return [s for s in matrix.SERIES if s.key in keys]


def headline_rows(report: dict[str, Any]) -> list[list[str]]:
    cells = report["cells"]
    rows = []
    for s in _present(report):
        row = [s.title]
        for model, c, key in (
            ("iris", 1, "p50_ms"),
            ("iris", 16, "p99_ms"),
            ("gbm", 32, "p99_ms"),
            ("gbm", 64, "p99_ms"),
        ):
            cell = _find(cells, s.key, model, c, 1)
            if cell is None or cell["summary"].get("rps") is None:
                row.append("—" if cell is None else "failed")
                continue
            what = "p50" if key == "p50_ms" else "p99"
            row.append(f"{_rate(cell['summary']['rps'])} ({what} {_ms(cell['summary'][key])}){_noisy(cell)}")
        server = _server(report["servers"], s.variant, "iris")
        ready = server.get("start_to_ready_median_s") if server else None
        memory = (server.get("memory_after_load") or server.get("memory_at_ready")) if server else None
        row.append("—" if ready is None else f"{ready:.1f}")
        row.append("—" if not memory else f"{memory['rss_mb']:.0f} / {memory['pss_mb']:.0f}")
        rows.append(row)
    return rows


def render_markdown(report: dict[str, Any]) -> str:
    m, cfg, v = report["machine"], report["config"], report["versions"]
    peer_versions = ", ".join(
        f"{name} {info.get(name)}"
        for name, info in v.items()
        if name not in ("project", "wrk") and isinstance(info, dict)
    )
    proj = v["project"]
    lines = [
        "# Model serving: Shipyard vs peers",
        "",
        f"Generated {report['generated']} by `{cfg['command'].strip()}` in {report['seconds'] / 60:.1f} min"
        + (" (**quick smoke run: not for quoting**)" if cfg["quick"] else "")
        + (" (**the targets' cells only**)" if cfg.get("targets") else "")
        + ".",
        "",
        f"Machine: {m['cpu_model']}, **{m['cpu_count']} CPUs shared by wrk and the server**, {m['memory_gib']} GiB; "
        f"Python {m['python']}; Shipyard {proj.get('shipyard')} ({m.get('shipyard_commit') or '?'}), "
        "its serving hot path compiled with mypyc, as the wheel ships it (`hatch_build.py`); "
        f"uvicorn {proj.get('uvicorn')} (uvloop {proj.get('uvloop') or 'absent'}, httptools "
        f"{proj.get('httptools') or 'absent'}); {peer_versions}; {v['wrk']}. "
        f"Load average (1/5/15 min) at the start {m.get('loadavg_at_start')}, at the end {m.get('loadavg_at_end')} "
        "(per cell and per run in the JSON).",
        "",
        f"Method: one server process per model, each on a loopback port; `{cfg['wrk']}` (one wrk thread). The "
        "servers of one model run side by side (idle unless loaded) and each cell's runs rotate over them (run 1 of "
        "every server, then run 2, ...), so a drift in background load hits all alike. Per cell and server: "
        f"{cfg['warmup_s']:g} s warm-up, then **median of {cfg['runs']} runs of {cfg['duration_s']:g} s**. "
        "Every server's answer to the exact body is checked once (the right predictions) before it is loaded; a run "
        "with any non-2xx answer or socket error is flagged and left out of the median. ⚠ marks a noisy cell: runs "
        "more than 30% apart, or other processes using more than 15% of the CPUs during the runs.",
        "",
        "## Headline (single-row bodies)",
        "",
        "req/s (latency in ms); start to ready and memory for the iris model (RSS / PSS in MB, all processes, "
        "after the load).",
        "",
        "| server | iris c=1 | iris c=16 | GBM c=32 | GBM c=64 | start→ready s | RSS / PSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in headline_rows(report)]
    lines += ["", "## Targets (issue 4, one Shipyard process, batching on unless said)", ""]
    for t in report["targets"]:
        mark = "not measured" if t["met"] is None else ("**met**" if t["met"] else "**missed**")
        lines.append(f"- {t['target']}: {mark}: {t['value']}")
    lines += ["", "## Every cell", ""]
    head = matrix.HEADLINE
    for model in report["models"]:
        for rows in (1, 100):
            block = [c for c in report["cells"] if c["model"] == model and c["rows"] == rows]
            if not block:
                continue
            title = report["models"][model]["title"]
            lines += [
                f"### {title}, {rows} row{'s' if rows > 1 else ''} per request",
                "",
                "| c | server | req/s | p50 ms | p90 ms | p99 ms | Shipyard V2 ÷ this | runs req/s | notes |",
                "|---:|---|---:|---:|---:|---:|---:|---|---|",
            ]
            order = {s.key: i for i, s in enumerate(matrix.SERIES)}
            for cell in sorted(block, key=lambda c: (c["concurrency"], order.get(c["series"], 99))):
                s = cell["summary"]
                mine = _stat(report["cells"], head, model, cell["concurrency"], rows)
                ratio = f"{mine / s['rps']:.2f}x" if mine and s.get("rps") and cell["series"] != head else ""
                runs = ", ".join(_rate(r.get("rps")) if r.get("ok") else "✗" for r in cell.get("runs", []))
                notes = "; ".join(cell.get("flags", []))
                if cell.get("error"):
                    notes = (notes + "; " if notes else "") + cell["error"][:120].replace("|", "/").replace("\n", " ")
                title_s = report["series"][cell["series"]]["title"]
                lines.append(
                    f"| {cell['concurrency']} | {title_s} | {_rate(s.get('rps'))} | {_ms(s.get('p50_ms'))} "
                    f"| {_ms(s.get('p90_ms'))} | {_ms(s.get('p99_ms'))} | {ratio} | {runs} | {notes} |"
                )
            lines.append("")
    lines += [
        "## Servers",
        "",
        "| server | model | start→ready s (each start) | RSS MB at ready / after load | PSS MB after load "
        "| processes | settings |",
        "|---|---|---|---|---:|---:|---|",
    ]
    for e in report["servers"]:
        if not e.get("ok"):
            error = str(e.get("error"))[:150].replace("\n", " ").replace("|", "/")
            lines.append(f"| {e.get('title', e['variant'])} | {e['model']} | failed: {error} | | | | |")
            continue
        ready, after = e.get("memory_at_ready") or {}, e.get("memory_after_load") or {}
        settings = ", ".join(f"{k}={val}" for k, val in (e.get("settings") or {}).items())
        lines.append(
            f"| {e['title']} | {e['model']} | {', '.join(f'{x:.2f}' for x in e['start_to_ready_s'])} "
            f"| {ready.get('rss_mb', 0):.0f} / {after.get('rss_mb', 0):.0f} | {after.get('pss_mb', 0):.0f} "
            f"| {after.get('processes', 0)} | {settings} |"
        )
    caveats = [
        "wrk and the server share the machine's CPUs: at high concurrency wrk itself takes a large share "
        "(`cpu_share` per run in the JSON), so absolute numbers are lower than on a separate client machine; "
        "compare servers only within one run.",
        "Peers run at their defaults except: one worker process, per-request access logging off (Shipyard logs "
        "none), loopback only; MLServer with `parallel_workers: 0` (inference in the server process, its fastest "
        "setting here); batching off for every peer (their default). Details in `benchmarks/serving/README.md`.",
        "100-row bodies at c=64 run for Shipyard only (and 100-row bodies elsewhere at c=1 and the middle "
        "concurrency) to keep the full matrix within ~25 minutes on 2 CPUs.",
        *report["notes"],
    ]
    lines += ["", "## Notes", "", *[f"- {n}" for n in caveats], "", "Every run's numbers: `serving.json`.", ""]
    return "\n".join(lines)


def write(report: dict[str, Any], out: Path, name: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / f"{name}.md").write_text(render_markdown(report))


def show(report: dict[str, Any], console: Console) -> None:
    table = Table(title="serving benchmark: single-row bodies, req/s (latency ms)")
    for column in ("server", "iris c=1", "iris c=16", "GBM c=32", "GBM c=64", "ready s", "RSS/PSS MB"):
        table.add_column(column, justify="left" if column == "server" else "right")
    for row in headline_rows(report):
        table.add_row(*row)
    console.print(table)
    for t in report["targets"]:
        mark = (
            "[dim]not measured[/dim]"
            if t["met"] is None
            else ("[green]met[/green]" if t["met"] else "[red]missed[/red]")
        )
        console.print(f"{mark}: {t['target']}: {t['value']}")
