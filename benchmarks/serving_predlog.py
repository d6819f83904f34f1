"""What the prediction log costs a model server: throughput and latency with it off and on.

    .venv/bin/python -m benchmarks.serving_predlog [--duration 10] [--runs 3] [--connections 16]
        [--threads 2] [--warmup 3] [--out benchmarks/results]

Three ``shipyard serve`` processes on free loopback ports serve the same scikit-learn
logistic regression (trained here on scikit-learn's bundled iris data; nothing is
downloaded), with ``--prediction-log`` off, on at rate 1.0 and on at rate 0.1 (each into
its own temporary directory, default flush and roll settings). ``wrk`` (``apt-get install
wrk``) drives each with ``POST /v2/models/iris/infer`` Open Inference Protocol v2 bodies
of 1 row and of 100 rows (four FP64 columns), ``--connections`` connections on
``--threads`` threads for ``--duration`` seconds; every server gets a ``--warmup``-second
run per body first. Measurements are interleaved (run 1: every body x mode, run 2: ...,
the mode order rotating) so load from anything else on the machine spreads over all modes.

Reported per body and mode: median requests/s, p50 and p99 latency (wrk's), the server's
CPU time per request (utime+stime of its process; steadier than throughput on a shared
machine), and the overhead against logging off: ``1 - on/off`` for requests/s and
``on/off - 1`` for CPU per request. Then, after a graceful stop (which flushes the log),
the records written (rows in the Parquet files), the drops (``/metrics``) and the records
expected (rows sent x rate). The 1-minute load average is recorded before every run.
Results: ``benchmarks/results/serving_predlog.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.logging_throughput import Server, _group_cpu_s, _load, machine_info, serving, settle

RESULTS = Path(__file__).parent / "results"
NAME = "serving_predlog"
MARK = "@@bench "
TARGET_OVERHEAD_PCT = 5.0
BODY_ROWS = {"1_row": 1, "100_rows": 100}
MODES = {"off": None, "on_rate_1.0": 1.0, "on_rate_0.1": 0.1}
COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open("{body}", "rb"))
wrk.body = f:read("*a")
f:close()

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{mark}{"requests": %d, "duration_us": %d, "errors": %d, "non_2xx": %d, "p50_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass
class Target:
    mode: str
    rate: float | None
    log_dir: Path | None
    server: Server | None = None
    rows_sent: int = 0
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    final_metrics: dict[str, float] = field(default_factory=dict)


# -- setup ---------------------------------------------------------------------------------
def train_model(directory: Path) -> Any:
    """The iris logistic regression, saved as a Shipyard model (column signature); the data."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from shipyard.models import save_model

    frame, target = load_iris(return_X_y=True, as_frame=True)
    save_model(LogisticRegression(max_iter=500).fit(frame, target), directory, input_example=frame[:3])
    return frame


def v2_body(frame: Any, rows: int) -> bytes:
    chosen = frame.iloc[:rows]
    inputs = [{"name": name, "shape": [rows], "datatype": "FP64", "data": chosen[name].tolist()} for name in COLUMNS]
    return json.dumps({"inputs": inputs}).encode()


def check_wrk() -> str:
    found = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return (found.stdout or found.stderr).splitlines()[0].strip()


@contextlib.contextmanager
def start_servers(model_dir: Path, tmp: Path, targets: list[Target]) -> Iterator[None]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")},
        "SHIPYARD_HOME": str(tmp / "home"),
        "SHIPYARD_LOGGING_LEVEL": "WARNING",
    }
    shipyard = str(Path(sys.executable).parent / "shipyard")
    with contextlib.ExitStack() as stack:
        for target in targets:
            cmd = [shipyard, "serve", str(model_dir), "--name", "iris", "--port", "{port}"]
            if target.rate is not None and target.log_dir is not None:
                cmd += ["--prediction-log", str(target.log_dir), "--prediction-log-sample-rate", str(target.rate)]
            target.server = stack.enter_context(
                serving(cmd, env=env, cwd=tmp, health_path="/v2/health/ready", log=tmp / f"{target.mode}.log")
            )
        yield


# -- measuring -----------------------------------------------------------------------------
def scrape(url: str) -> dict[str, float]:
    """The prediction log's counters on a server's /metrics, summed over labels."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as reply:  # loopback only
        text = reply.read().decode()
    totals = {"records": 0.0, "dropped": 0.0, "buffered": 0.0, "write_s": 0.0}
    names = {
        "shipyard_prediction_log_records_total": "records",
        "shipyard_prediction_log_dropped_total": "dropped",
        "shipyard_prediction_log_buffered_records": "buffered",
        "shipyard_prediction_log_write_duration_seconds_sum": "write_s",
    }
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in names:
                totals[names[sample.name]] += sample.value
    return totals


def _wrk(url: str, script: Path, *, seconds: float, connections: int, threads: int) -> subprocess.Popen[str]:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(script)]
    return subprocess.Popen(
        [*cmd, f"{url}/v2/models/iris/infer"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wrk_result(proc: subprocess.Popen[str]) -> dict[str, Any]:
    stdout, stderr = proc.communicate(timeout=600)
    lines = [line for line in stdout.splitlines() if line.startswith(MARK)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {stdout}\n{stderr}")
    result: dict[str, Any] = json.loads(lines[-1][len(MARK) :])
    result["req_per_s"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def run_wrk(url: str, script: Path, *, seconds: float, connections: int, threads: int) -> dict[str, Any]:
    return _wrk_result(_wrk(url, script, seconds=seconds, connections=connections, threads=threads))


def measure_together(targets: list[Target], body: str, script: Path, args: argparse.Namespace) -> dict[str, float]:
    """Every server driven at once, one wrk each (one thread): the machine's other load hits
    all modes alike, and the scheduler gives each server the same CPU share, so their
    throughputs compare CPU cost per request directly. Requests/s by mode."""
    urls = {t.mode: t.server.url for t in targets if t.server is not None}
    procs = {
        mode: _wrk(url, script, seconds=args.duration, connections=args.connections, threads=1)
        for mode, url in urls.items()
    }
    results = {mode: _wrk_result(proc) for mode, proc in procs.items()}
    for target in targets:
        target.rows_sent += results[target.mode]["requests"] * BODY_ROWS[body]
    return {mode: result["req_per_s"] for mode, result in results.items()}


def measure(target: Target, body: str, script: Path, args: argparse.Namespace, *, warmup: bool) -> dict[str, Any]:
    assert target.server is not None
    url = target.server.url
    seconds = args.warmup if warmup else args.duration
    settled = settle(target.server, busy_share=0.2, max_wait_s=15)
    before, cpu_before, load = scrape(url), _group_cpu_s(target.server.pgid), _load()
    result = run_wrk(url, script, seconds=seconds, connections=args.connections, threads=args.threads)
    after, cpu_after = scrape(url), _group_cpu_s(target.server.pgid)
    target.rows_sent += result["requests"] * BODY_ROWS[body]
    result.update(
        loadavg_1m_before=load,
        settled_after_s=settled,
        dropped=after["dropped"] - before["dropped"],
        buffered_after=after["buffered"],
        writer_us_per_request=(after["write_s"] - before["write_s"]) / max(1, result["requests"]) * 1e6,
    )
    if cpu_before is not None and cpu_after is not None and result["requests"]:
        result["server_cpu_s"] = round(cpu_after - cpu_before, 3)
        result["cpu_us_per_request"] = (cpu_after - cpu_before) / result["requests"] * 1e6
    return result


def count_records(log_dir: Path | None) -> int | None:
    if log_dir is None:
        return None
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    return sum(pq.ParquetFile(path).metadata.num_rows for path in log_dir.rglob("part-*.parquet"))


# -- report --------------------------------------------------------------------------------
def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def summarize(targets: list[Target], costs: dict[str, dict[str, dict[str, float]]]) -> dict[str, Any]:
    off = next(t for t in targets if t.rate is None)
    summary: dict[str, Any] = {}
    for body in BODY_ROWS:
        rows: dict[str, Any] = {}
        base_rps = _median(off.runs[body], "req_per_s")
        base_cpu = _median(off.runs[body], "cpu_us_per_request")
        for target in targets:
            runs = target.runs[body]
            rps = _median(runs, "req_per_s")
            cost = costs[body].get(target.mode)
            rows[target.mode] = {
                "median_req_per_s": rps,
                "range_req_per_s": [min(r["req_per_s"] for r in runs), max(r["req_per_s"] for r in runs)],
                "median_p50_ms": (_median(runs, "p50_us") or 0) / 1000,
                "median_p99_ms": (_median(runs, "p99_us") or 0) / 1000,
                "median_cpu_us_per_request": _median(runs, "cpu_us_per_request"),
                "median_writer_wall_us_per_request": _median(runs, "writer_us_per_request"),
                "logging_cpu_us_per_request": cost,
                "logging_cpu_share_pct": None if cost is None or not base_cpu else cost["total"] / base_cpu * 100,
                "throughput_overhead_pct": None
                if target is off or not base_rps or rps is None
                else (1 - rps / base_rps) * 100,
                "dropped": sum(r["dropped"] for r in runs),
                "errors": sum(r["errors"] + r["non_2xx"] for r in runs),
                "loadavg_1m_before": [r["loadavg_1m_before"] for r in runs],
            }
        summary[body] = rows
    return summary


def _best_of(repeats: int, fn: Any) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        fn()
        best = min(best, time.process_time() - started)
    return best


def _observe(app: Any, contexts: list[Any]) -> None:
    """``ServingApp._observe`` for each of ``contexts``, offering into an empty buffer."""
    route = app.endpoints.v2_infer
    logger = app.prediction_log
    if logger is not None:
        logger._buffer.clear()
        logger._offered = logger._taken = 0
    for ctx in contexts:
        app._observe(ctx, route, 200)


def _write_s(captures: list[Any], rows: int, directory: Path, repeats: int) -> float:
    """CPU seconds to convert ``captures`` (as buffered: packed) and write them as row
    groups of 5,000 records, as the writer thread does."""
    from shipyard.serving.predlog import ParquetSink, Partition, PredictionLogger

    per_flush = max(1, 5_000 // rows)
    sink = ParquetSink(str(directory), roll_bytes=1 << 40, roll_interval_s=1e9)
    partition = Partition("default", "iris", "iris", "1", "2026-01-01")

    def write() -> None:
        for start in range(0, len(captures), per_flush):
            sink.write(partition, PredictionLogger._table(captures[start : start + per_flush]))

    try:
        return _best_of(repeats, write)
    finally:
        sink.close()


def logging_costs(model_dir: Path, frame: Any, tmp: Path, n: int = 5_000, repeats: int = 5) -> dict[str, Any]:
    """The CPU the log adds per request, per body and mode, measured in this process (best
    of ``repeats``, the least disturbed by other work on the machine):

    - ``event_loop``: ``ServingApp._observe`` (request metrics, then the sampling decision,
      the capture and the offer) on ``n`` prepared requests, minus the same with the log off;
    - ``writer``: what the writer thread does with the records those requests offered:
      convert them to Arrow and write them as Parquet row groups (5,000 records a flush,
      the default), per request offered."""
    import numpy as np

    from shipyard.models import load_model
    from shipyard.serving import ServedModel, ServingSettings, create_serving_app
    from shipyard.serving.dataplane import InferenceRequest, InferenceResult
    from shipyard.serving.http import RequestContext
    from shipyard.serving.inputs import prepare
    from shipyard.serving.predlog.columns import warm_up
    from shipyard.serving.settings import PredictionLogSettings

    warm_up()
    signature = load_model(model_dir).signature
    costs: dict[str, Any] = {}
    for body, rows in BODY_ROWS.items():
        data = {name: frame[name].to_numpy()[:rows] for name in COLUMNS}
        apps: dict[str, Any] = {}
        contexts: dict[str, list[Any]] = {}
        for mode, rate in MODES.items():
            settings = ServingSettings()
            if rate is not None:
                log = PredictionLogSettings(url=str(tmp / "costs"), sample_rate=rate, buffer_records=10_000_000)
                settings = ServingSettings(prediction_log=log)
            app = apps[mode] = create_serving_app(
                [ServedModel.from_path(model_dir, name="iris", version="1")], settings
            )
            contexts[mode] = []
            for _ in range(n):  # each request its own arrays, as decoded requests have
                ctx = RequestContext("POST", "/v2/models/iris/infer", b"", {}, app.settings)
                ctx.runtime = app.dataplane.runtime("iris")
                own = {name: values.copy() for name, values in data.items()}
                ctx.inference = InferenceRequest(data=own, prepared=prepare(signature, own))
                ctx.result = InferenceResult("iris", "1", {"predict": np.zeros(rows, dtype=np.int64)})
                contexts[mode].append(ctx)
        observe_s = {mode: float("inf") for mode in MODES}
        for _ in range(repeats):  # the modes interleaved, so a busy moment hits them all
            for mode, app in apps.items():
                observe_s[mode] = min(observe_s[mode], _best_of(1, lambda a=app, c=contexts[mode]: _observe(a, c)))
        costs[body] = {}
        for mode, app in apps.items():
            if app.prediction_log is None:
                continue
            captures = list(app.prediction_log._buffer)
            event_loop = max(0.0, observe_s[mode] - observe_s["off"]) / n * 1e6
            writer = _write_s(captures, rows, tmp / "costs" / body / mode, repeats) / n * 1e6
            costs[body][mode] = {"event_loop": event_loop, "writer": writer, "total": event_loop + writer}
    return costs


def summarize_together(together: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    """Per body and mode: the median requests/s and the median of each run's on/off ratio."""
    summary: dict[str, Any] = {}
    for body, runs in together.items():
        summary[body] = {
            mode: {
                "median_req_per_s": statistics.median(r[mode] for r in runs),
                "throughput_overhead_pct": None
                if mode == "off"
                else (1 - statistics.median(r[mode] / r["off"] for r in runs)) * 100,
                "runs_req_per_s": [r[mode] for r in runs],
            }
            for mode in runs[0]
        }
    return summary


def records_report(targets: list[Target]) -> dict[str, Any]:
    report = {}
    for target in targets:
        if target.rate is None:
            continue
        written = count_records(target.log_dir)
        report[target.mode] = {
            "rows_sent": target.rows_sent,
            "expected_records": round(target.rows_sent * target.rate),
            "records_written": written,
            "dropped": target.final_metrics.get("dropped"),
        }
    return report


def render_markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    s = report["settings"]
    out = [
        "# Prediction log overhead: `shipyard serve` with the log off and on",
        "",
        f"`wrk -t{s['threads']} -c{s['connections']} -d{s['duration_s']:g}s` against `POST /v2/models/iris/infer` "
        f"(scikit-learn logistic regression on iris, four FP64 columns), {s['runs']} interleaved runs per body and "
        f"mode, medians; each server warmed up first. Generated {report['generated_at']} by "
        "`python -m benchmarks.serving_predlog`.",
        "",
        f"Machine: {m['cpu_model']}, **{m['cpu_count']} CPUs shared by wrk, the three servers and other work**; "
        f"Python {m['python']}; Shipyard {m['shipyard_version']} ({m['shipyard_commit']}); {report['wrk']}. "
        f"1-minute load average before each run: {report['loadavg_range'][0]} to {report['loadavg_range'][1]}.",
        "",
        "| body | prediction log | median req/s | range req/s | p50 ms | p99 ms | server CPU µs/request "
        "| throughput overhead | drops |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def pct(value: float | None) -> str:
        return "" if value is None else f"**{value:+.1f}%**" if abs(value) >= 0.05 else "0.0%"

    for body, rows in report["summary"].items():
        for mode, row in rows.items():
            low, high = row["range_req_per_s"]
            cpu = row["median_cpu_us_per_request"]
            out.append(
                f"| {body.replace('_', ' ')} | {mode.replace('_', ' ')} | {row['median_req_per_s']:,.0f} | "
                f"{low:,.0f} to {high:,.0f} | {row['median_p50_ms']:.2f} | {row['median_p99_ms']:.2f} | "
                f"{'' if cpu is None else f'{cpu:,.0f}'} | {pct(row['throughput_overhead_pct'])} | "
                f"{row['dropped']:,.0f} |"
            )
    out += [
        "",
        "Throughput overhead = 1 - (req/s on / req/s off), of the medians. On a shared 2-CPU machine the runs of one "
        "mode differ by far more than 5% (see the ranges), so the servers are also compared side by side, and the "
        "cost is accounted for directly.",
        "",
        "## Side by side: the three servers driven at once",
        "",
        f"One `wrk -t1 -c{s['connections']} -d{s['duration_s']:g}s` per server, all started together, "
        f"{s['runs']} runs: whatever else the machine does slows all three alike, and the scheduler gives each the "
        "same share of CPU, so their throughputs compare what a request costs. Overhead = 1 - the median of each "
        "run's on/off ratio.",
        "",
        "| body | prediction log | median req/s | runs req/s | throughput overhead |",
        "|---|---|---:|---:|---:|",
    ]
    for body, rows in report["together"].items():
        for mode, row in rows.items():
            runs = ", ".join(f"{r:,.0f}" for r in row["runs_req_per_s"])
            out.append(
                f"| {body.replace('_', ' ')} | {mode.replace('_', ' ')} | {row['median_req_per_s']:,.0f} | {runs} | "
                f"{pct(row['throughput_overhead_pct'])} |"
            )
    out += [
        "",
        "## Cost accounting: CPU the log adds per request",
        "",
        "| body | prediction log | event loop µs/request | writer thread µs/request | total µs/request "
        "| share of the server's CPU per request (log off) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for body, rows in report["summary"].items():
        off_cpu = rows["off"]["median_cpu_us_per_request"]
        for mode, row in rows.items():
            cost = row["logging_cpu_us_per_request"]
            if cost is None:
                continue
            out.append(
                f"| {body.replace('_', ' ')} | {mode.replace('_', ' ')} | {cost['event_loop']:.1f} | "
                f"{cost['writer']:.1f} | {cost['total']:.1f} | **{row['logging_cpu_share_pct']:.1f}%** of "
                f"{off_cpu:,.0f} µs |"
            )
    out += [
        "",
        "Measured in the benchmark process on the same requests, best of 5 x 5,000: the event loop's part is "
        "`ServingApp._observe` with the log on minus off (sampling decision, capture, offer); the writer's part is "
        "converting the offered records to Arrow and writing them as Parquet row groups, 5,000 records a flush "
        "(the default), per request offered. The writer runs on its own thread and holds the GIL only for the "
        "conversion; on a machine with a free core the Parquet encoding does not compete with requests. "
        f"Target: at most {TARGET_OVERHEAD_PCT:g}% (request metrics are on in every mode).",
        "",
        "## Records",
        "",
        "| prediction log | rows sent (incl. warm-up) | records expected | records written | drops |",
        "|---|---:|---:|---:|---:|",
    ]
    for mode, row in report["records"].items():
        out.append(
            f"| {mode.replace('_', ' ')} | {row['rows_sent']:,} | {row['expected_records']:,} | "
            f"{row['records_written']:,} | {row['dropped'] or 0:,.0f} |"
        )
    out += [
        "",
        "Rate 0.1 keeps the requests whose id hashes below 10%, so its records are close to, not exactly, a tenth. "
        "wrk does not count the requests still in flight when it stops, so a few more records than rows sent "
        "are written.",
        "",
    ]
    return "\n".join(out)


# -- main ----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serving_predlog", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured wrk run")
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs per body and mode")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of wrk per server and body first")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    wrk = check_wrk()
    with tempfile.TemporaryDirectory(prefix="shipyard-predlog-bench-") as scratch:
        tmp = Path(scratch)
        frame = train_model(tmp / "iris")
        scripts = {}
        for body, rows in BODY_ROWS.items():
            (tmp / f"{body}.json").write_bytes(v2_body(frame, rows))
            scripts[body] = tmp / f"{body}.lua"
            scripts[body].write_text(LUA.replace("{body}", str(tmp / f"{body}.json")).replace("{mark}", MARK))
        targets = [Target(mode, rate, None if rate is None else tmp / f"log-{mode}") for mode, rate in MODES.items()]
        together: dict[str, list[dict[str, float]]] = {}
        costs = logging_costs(tmp / "iris", frame, tmp)
        print(f"CPU the log adds per request (µs): {costs}", flush=True)
        started = time.monotonic()
        with start_servers(tmp / "iris", tmp, targets):
            for body, script in scripts.items():
                for target in targets:
                    measure(target, body, script, args, warmup=True)
            for run in range(args.runs):
                for body, script in scripts.items():
                    order = targets[run % len(targets) :] + targets[: run % len(targets)]
                    for target in order:
                        result = measure(target, body, script, args, warmup=False)
                        target.runs.setdefault(body, []).append(result)
                        print(
                            f"run {run + 1}/{args.runs} {body:8} {target.mode:12} {result['req_per_s']:8,.0f} req/s "
                            f"p50 {result['p50_us'] / 1000:6.2f} ms p99 {result['p99_us'] / 1000:6.2f} ms "
                            f"load {result['loadavg_1m_before']}",
                            flush=True,
                        )
            for run in range(args.runs):
                for body, script in scripts.items():
                    rates = measure_together(targets, body, script, args)
                    together.setdefault(body, []).append(rates)
                    print(f"run {run + 1}/{args.runs} {body:8} together: {rates}", flush=True)
            for target in targets:
                assert target.server is not None
                target.final_metrics = scrape(target.server.url)
        # the servers stopped gracefully (SIGTERM): every buffered record is in a file now
        loads = [r["loadavg_1m_before"] for t in targets for runs in t.runs.values() for r in runs]
        report = {
            "benchmark": NAME,
            "generated_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
            "seconds": round(time.monotonic() - started, 1),
            "machine": machine_info(),
            "wrk": wrk,
            "settings": {
                "duration_s": args.duration,
                "runs": args.runs,
                "connections": args.connections,
                "threads": args.threads,
                "warmup_s": args.warmup,
                "modes": MODES,
                "bodies": BODY_ROWS,
            },
            "loadavg_range": [min(loads), max(loads)],
            "summary": summarize(targets, costs),
            "together": summarize_together(together),
            "records": records_report(targets),
            "runs": {t.mode: t.runs for t in targets},
        }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{NAME}.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / f"{NAME}.md").write_text(render_markdown(report))
    print(render_markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
