"""Orchestration: train the models, start each server in turn, verify it, load it, record."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console

from benchmarks.logging_throughput import RESULTS, _cpu_model, _git_commit, _load, _mem_gib, free_port, settle
from benchmarks.serving import load as loadgen
from benchmarks.serving import matrix, peers, report
from benchmarks.serving.models import BenchModel, save_mlflow, train_models

NAME = "serving"
QUICK_OUT = Path(tempfile.gettempdir()) / "shipyard-bench-serving-quick"
SPREAD_FLAG = 0.30  # (max - min) / median of a cell's runs above this: noisy
OTHER_CPU_FLAG = 0.15  # other processes used more than this share of all CPUs during a run: noisy
SETTLE_MAX_S = 20.0


def _loads() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def machine_info() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": _mem_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "shipyard_commit": _git_commit(),
        "loadavg_at_start": _loads(),
    }


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    good = [r for r in runs if r.get("ok")]
    out: dict[str, Any] = {"ok_runs": len(good), "runs": len(runs)}
    for key in ("rps", "p50_ms", "p90_ms", "p99_ms", "mean_ms"):
        out[key] = _median([r[key] for r in good])
    others = [r["cpu_share"]["other"] for r in good if "other" in r.get("cpu_share", {})]
    out["other_cpu_share"] = _median(others)
    if good:
        rates = [r["rps"] for r in good]
        out["rps_min"], out["rps_max"] = min(rates), max(rates)
    return out


def flags(summary: dict[str, Any], verified: str | None) -> list[str]:
    out = []
    if verified:
        out.append("wrong answer")
    if summary["ok_runs"] < summary["runs"]:
        out.append(f"errors in {summary['runs'] - summary['ok_runs']} of {summary['runs']} runs")
    if (
        summary.get("rps")
        and summary["ok_runs"] > 1
        and (summary["rps_max"] - summary["rps_min"]) / summary["rps"] > SPREAD_FLAG
    ):
        out.append(f"spread {100 * (summary['rps_max'] - summary['rps_min']) / summary['rps']:.0f}%")
    if summary.get("other_cpu_share") is not None and summary["other_cpu_share"] > OTHER_CPU_FLAG:
        out.append(f"other processes used {100 * summary['other_cpu_share']:.0f}% of the CPUs")
    return out


@dataclass
class Job:
    """One series in one cell: the server, the exact body and the record being filled."""

    series: matrix.Series
    run: peers.Running
    url: str
    script: Path
    record: dict[str, Any]


def _cell_record(model: BenchModel, series: matrix.Series, c: int, rows: int) -> dict[str, Any]:
    return {
        "model": model.key,
        "series": series.key,
        "variant": series.variant,
        "protocol": series.protocol,
        "concurrency": c,
        "rows": rows,
    }


def _failed(record: dict[str, Any], error: str, flag: str) -> dict[str, Any]:
    return record | {"ok": False, "error": error, "runs": [], "summary": summarize([]), "flags": [flag]}


class Bench:
    """Every server of one model runs at once; each cell's runs rotate over the servers
    (run 1 of each, then run 2, ...), so a drift in background load hits all of them alike."""

    def __init__(self, args: argparse.Namespace, console: Console, wrk: str, work: Path) -> None:
        self.args = args
        self.console = console
        self.wrk = wrk
        self.work = work
        self.cells: list[dict[str, Any]] = []
        self.servers: list[dict[str, Any]] = []
        self.logs = work / "logs"
        self.logs.mkdir(exist_ok=True)
        self.primed = False  # the project venv's bytecode cache is filled (see start)

    # -- servers ---------------------------------------------------------------------
    def start(self, stack: contextlib.ExitStack, variant: peers.Variant, model: BenchModel) -> peers.Running | None:
        """Start ``variant`` for ``model`` (after extra start-to-ready samples for Shipyard);
        it stops when ``stack`` closes. None if it failed (recorded)."""
        args = self.args
        entry: dict[str, Any] = {"variant": variant.key, "title": variant.title, "model": model.key}
        self.servers.append(entry)
        samples: list[float] = []
        memories: list[dict[str, Any]] = []
        try:
            if variant.peer is None and not self.primed:
                # The project venv is installed without bytecode (uv does not compile it) and
                # PYTHONDONTWRITEBYTECODE may be set, while the peers' pip installs compiled
                # theirs: one untimed start fills the benchmark's own bytecode cache
                # (PYTHONPYCACHEPREFIX, see peers.project_env), as any real install has it.
                port = free_port()
                launch = variant.launch(model, self.work, args.venvs, port)
                with peers.running(variant.key, model.key, launch, port, self.logs / "priming.log") as run:
                    entry["priming_start_s"] = run.start_to_ready_s
                self.primed = True
            for i in range(args.startup_runs - 1 if variant.key == "shipyard" else 0):
                port = free_port()
                launch = variant.launch(model, self.work, args.venvs, port)
                log = self.logs / f"{variant.key}-{model.key}-start{i}.log"
                with peers.running(variant.key, model.key, launch, port, log) as run:
                    samples.append(run.start_to_ready_s)
                    memories.append(peers.memory(run.pids()))
            port = free_port()
            launch = variant.launch(model, self.work, args.venvs, port)
            entry["settings"] = launch.settings
            entry["command"] = " ".join(launch.cmd)
            log = self.logs / f"{variant.key}-{model.key}.log"
            run = stack.enter_context(peers.running(variant.key, model.key, launch, port, log))
        except (RuntimeError, OSError) as exc:
            entry |= {"ok": False, "error": str(exc), "start_to_ready_s": samples}
            self.console.log(f"[red]{variant.title} ({model.key}) failed to start:[/red] {exc}")
            return None
        samples.append(run.start_to_ready_s)
        at_ready = peers.memory(run.pids())
        memories.append(at_ready)
        entry |= {
            "ok": True,
            "memory_at_ready": at_ready,
            "start_to_ready_s": samples,
            "start_to_ready_median_s": _median(samples),
            "rss_at_ready_median_mb": _median([m["rss_mb"] for m in memories]),
        }
        self.console.log(
            f"{variant.title} ({model.key}) ready in {run.start_to_ready_s:.2f} s, "
            f"RSS {at_ready['rss_mb']:.0f} MB in {at_ready['processes']} process(es)"
        )
        return run

    def finish(self, model: BenchModel, runs: dict[str, peers.Running]) -> None:
        for entry in self.servers:
            run = runs.get(entry["variant"])
            if entry["model"] == model.key and run is not None:
                alive = run.proc.poll() is None
                entry["memory_after_load"] = peers.memory(run.pids()) if alive else None
                entry["processes_seen"] = len(run.seen)
                if not alive:
                    entry |= {"ok": False, "error": f"exited with {run.proc.returncode} during the load"}

    # -- cells -----------------------------------------------------------------------
    def prepare(self, run: peers.Running, model: BenchModel, series: matrix.Series, c: int, rows: int) -> Job | None:
        """Check the server's answer to the exact body; the job to load it with (None: failed, recorded)."""
        record = _cell_record(model, series, c, rows)
        body = loadgen.request_body(series.protocol, model.rows[rows])
        url = run.url + loadgen.request_path(series.protocol, model.name)
        record["body_bytes"] = len(body)
        if run.proc.poll() is not None:
            self.cells.append(_failed(record, f"server exited with {run.proc.returncode}", "server failed"))
            return None
        problem = loadgen.verify(url, series.protocol, body, model.expected[rows])
        record["verified"] = problem is None
        if problem:
            self.cells.append(_failed(record, f"answer check failed: {problem}", "wrong answer"))
            self.console.log(f"[red]{series.title} {model.key} rows={rows}: {problem}[/red]")
            return None
        script = loadgen.write_script(self.work / "wrk", f"{model.key}-{series.key}-{rows}", body)
        return Job(series, run, url, script, record)

    def load_cell(self, model: BenchModel, c: int, rows: int, jobs: list[Job]) -> None:
        """Warm each job up, then ``--runs`` rounds over the jobs, in a rotating order."""
        args = self.args
        started = datetime.now(UTC).isoformat(timespec="seconds")
        before = _loads()
        for job in jobs:
            job.record |= {"started": started, "loadavg_before": before, "runs": []}
            if args.warmup > 0:
                warm = loadgen.run_wrk(self.wrk, loadgen.Load(job.url, job.script, c, args.warmup))
                job.record["warmup"] = {k: warm.get(k) for k in ("ok", "rps", "p50_ms", "non_2xx", "error")}
        for i in range(args.runs):
            for job in jobs[i % len(jobs) :] + jobs[: i % len(jobs)]:
                run = job.run

                def server_cpu(run: peers.Running = run) -> float:
                    return peers.cpu_seconds(run.pids())

                result = loadgen.run_wrk(self.wrk, loadgen.Load(job.url, job.script, c, args.duration), server_cpu)
                job.record["runs"].append({"run": i + 1, "loadavg_1m_before": _load()} | result)
        after = _loads()
        for job in jobs:
            record = job.record
            record["loadavg_after"] = after
            record["summary"] = summarize(record["runs"])
            record["ok"] = record["summary"]["ok_runs"] == len(record["runs"]) > 0
            record["flags"] = flags(record["summary"], None)
            self.cells.append(record)
            self.report_line(model, job.series, c, rows, record)

    def report_line(self, model: BenchModel, series: matrix.Series, c: int, rows: int, record: dict[str, Any]) -> None:
        s = record["summary"]
        line = (
            f"{model.key:4} {series.title:28} c={c:<3} rows={rows:<3} "
            f"{(s['rps'] or 0):>9,.0f} req/s  p50 {(s['p50_ms'] or 0):7.2f} ms  p99 {(s['p99_ms'] or 0):7.2f} ms"
        )
        if record["flags"]:
            line += f"  [yellow]({'; '.join(record['flags'])})[/yellow]"
        if not record["ok"]:
            errors = [
                r.get("error") or f"non-2xx {r.get('non_2xx')} socket {r.get('socket_errors')}"
                for r in record["runs"]
                if not r.get("ok")
            ]
            line += f"  [red]{errors[:1]}[/red]"
        self.console.log(line)

    def model(self, model: BenchModel, variant_keys: list[str]) -> None:
        """All of ``model``'s cells on every chosen server."""
        variants = peers.variants()
        todo: dict[tuple[int, int], list[matrix.Series]] = {}
        for key in variant_keys:
            for series in matrix.series_of(key):
                for cell in matrix.cells(series, model.key, self.args.quick, self.args.targets):
                    todo.setdefault(cell, []).append(series)
        if not todo:
            return
        with contextlib.ExitStack() as stack:
            runs: dict[str, peers.Running] = {}
            for key in variant_keys:
                run = self.start(stack, variants[key], model)
                if run is not None:
                    runs[key] = run
            for run in runs.values():  # a fresh server may still be importing or starting helpers
                settle(run.server, max_wait_s=SETTLE_MAX_S)
            for c, rows in sorted(todo, key=lambda cell: (cell[1], cell[0])):
                jobs = []
                for series in todo[(c, rows)]:
                    run_or_none = runs.get(series.variant)
                    if run_or_none is None:
                        record = _cell_record(model, series, c, rows)
                        self.cells.append(_failed(record, "the server did not start", "server failed"))
                    elif (job := self.prepare(run_or_none, model, series, c, rows)) is not None:
                        jobs.append(job)
                if jobs:
                    self.load_cell(model, c, rows, jobs)
            self.finish(model, runs)


@contextlib.contextmanager
def terminate_as_exit() -> Iterator[None]:
    """SIGTERM raises SystemExit, so every server's ``finally`` stops it."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def parse(argv: list[str] | None) -> argparse.Namespace:
    from benchmarks.serving import __doc__ as doc

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.serving", description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 run x 2 s, a subset of the cells")
    parser.add_argument(
        "--targets",
        action="store_true",
        help="only the cells issue 4's targets need (V2 single rows: iris c=1,16; GBM c=1,32,64)",
    )
    parser.add_argument(
        "--servers", default=",".join(matrix.DEFAULT_SERVERS), help="comma-separated (default: %(default)s)"
    )
    parser.add_argument("--models", default=",".join(matrix.MODELS), help="comma-separated (default: %(default)s)")
    parser.add_argument("--duration", type=int, default=None, help="seconds per run (default 4; --quick 2)")
    parser.add_argument("--runs", type=int, default=None, help="runs per cell, median reported (default 3; --quick 1)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up seconds per cell (default 1; 0: none)")
    parser.add_argument(
        "--startup-runs", type=int, default=None, help="start-to-ready samples for Shipyard (default 3)"
    )
    parser.add_argument("--venvs", type=Path, default=peers.DEFAULT_VENVS, help="peer venvs (default: %(default)s)")
    parser.add_argument(
        "--out", type=Path, default=None, help=f"results directory (default {RESULTS}; --quick {QUICK_OUT})"
    )
    parser.add_argument("--no-install-wrk", action="store_true", help="do not apt-get install wrk when missing")
    args = parser.parse_args(argv)
    args.duration = args.duration or (2 if args.quick else 4)  # wrk takes whole seconds
    args.runs = args.runs or (1 if args.quick else 3)
    args.warmup = 1 if args.warmup is None else args.warmup
    if args.duration < 1 or args.runs < 1 or args.warmup < 0:
        parser.error("--duration and --runs must be at least 1, --warmup at least 0")
    args.startup_runs = args.startup_runs or (1 if args.quick else 3)
    args.out = args.out or (QUICK_OUT if args.quick or args.targets else RESULTS)  # partial runs: not results/
    return args


def estimate_s(args: argparse.Namespace, variants: list[str], models: list[str]) -> float:
    series = [s for v in variants for s in matrix.series_of(v)]
    n = sum(len(matrix.cells(s, m, args.quick, args.targets)) for s in series for m in models)
    per_cell = float(args.warmup + args.runs * args.duration + 1.0)  # + verify, settle, wrk start
    starts = len(variants) * len(models) * 6.0 + 2 * (args.startup_runs - 1) * len(models) * 4.0
    return float(n * per_cell + starts)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    console = Console(log_path=False, width=None if sys.stdout.isatty() else 150)
    known = list(peers.variants())
    try:
        chosen = matrix.select_variants([s.strip() for s in args.servers.split(",") if s.strip()], known)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if bad := [m for m in models if m not in matrix.MODELS]:
        console.print(f"[red]unknown model(s) {bad}; known: {', '.join(matrix.MODELS)}[/red]")
        return 2
    wrk = loadgen.find_wrk(console, install=not args.no_install_wrk)
    if wrk is None:
        console.print(
            "[red]wrk is not installed and could not be installed.[/red] Install it with "
            "`apt-get install -y wrk` (Debian's package) and run again."
        )
        return 2
    variants = peers.variants()
    if any(variants[key].peer is None and key.startswith("shipyard") for key in chosen):
        peers.ensure_compiled(console)
    versions: dict[str, Any] = {"project": peers.project_versions(), "wrk": loadgen.wrk_version(wrk)}
    notes: list[str] = []
    for key in list(chosen):
        peer_name = variants[key].peer
        if peer_name is None or peer_name in versions:
            continue
        try:
            versions[peer_name] = peers.ensure_peer(peers.peers()[peer_name], args.venvs, console)
        except (RuntimeError, OSError) as exc:
            notes.append(f"{peer_name} skipped: could not install it into {args.venvs / peer_name}: {str(exc)[:300]}")
            console.print(f"[red]{notes[-1]}[/red]")
            chosen = [k for k in chosen if variants[k].peer != peer_name]
    machine = machine_info()
    est = estimate_s(args, chosen, models)
    console.rule(f"serving benchmark: {', '.join(chosen)} x {', '.join(models)}; about {est / 60:.0f} min")
    config = {
        "quick": args.quick,
        "targets": args.targets,
        "runs": args.runs,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "startup_runs": args.startup_runs,
        "servers": chosen,
        "models": models,
        "wrk": f"wrk -t1 -c<C> -d{args.duration}s --latency --timeout {loadgen.WRK_TIMEOUT} -s <post.lua> <url>",
        "command": "python -m benchmarks.serving " + " ".join(sys.argv[1:] if argv is None else argv),
    }
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-serving-") as tmp, terminate_as_exit():
        work = Path(tmp)
        bench = Bench(args, console, wrk, work)
        with console.status("training the models ..."):
            trained = train_models(work, models)
        by_model = {m.key: m for m in trained}
        for model in trained:
            chosen_here = list(chosen)
            if "mlflow" in chosen_here:
                try:
                    save_mlflow(model, args.venvs / "mlflow" / "bin" / "python", work)
                except (RuntimeError, OSError) as exc:
                    bench.servers.append({"variant": "mlflow", "model": model.key, "ok": False, "error": str(exc)})
                    console.log(f"[red]MLflow model save failed:[/red] {exc}")
                    chosen_here.remove("mlflow")
            bench.model(model, chosen_here)
            result = report.build(
                bench.cells, bench.servers, machine, config, versions, notes, by_model, time.monotonic() - started
            )
            report.write(result, args.out, NAME)  # after each model: a crash keeps what was measured
    machine["loadavg_at_end"] = _loads()
    result = report.build(
        bench.cells, bench.servers, machine, config, versions, notes, by_model, time.monotonic() - started
    )
    report.write(result, args.out, NAME)
    report.show(result, console)
    minutes = (time.monotonic() - started) / 60
    console.print(f"results: {args.out / (NAME + '.json')} and {args.out / (NAME + '.md')} ({minutes:.1f} min)")
    failed = [c for c in bench.cells if not c.get("ok")] or [s for s in bench.servers if not s.get("ok")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
