"""Metric logging throughput, SDK to server, end to end: Shipyard against MLflow.

    .venv/bin/python -m benchmarks.logging_throughput [--points 500000] [--reps 3]
        [--skip-mlflow] [--skip-postgres] [--skip-info-log] [--out benchmarks/results]

Shipyard: a real ``shipyard server`` subprocess on a free loopback port with a fresh
SQLite home (and, if one is reachable, a fresh PostgreSQL database created for the run
and dropped afterwards, named by ``SHIPYARD_BENCH_POSTGRES``, default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``). Each measurement is a fresh
client process that logs ``--points`` points over 10 keys to a new run and reports the
time until everything is on the server:

* ``fluent``: ``sy.log_metric(key, value, step=i)`` in a tight loop, timed until
  ``sy.end_run()`` returns (it flushes the background buffer);
* ``fluent_dict``: ``sy.log_metrics({10 keys}, step=i)``, likewise;
* ``batch``: ``client.log_batch(run_id, metrics=[...])`` with 10,000 points a call.

MLflow: installed into a throwaway virtual environment outside the repository
(``--mlflow-venv``, default ``$TMPDIR/mlflow-bench``; reused when present) and never
imported here: ``mlflow server --workers 1`` runs on a SQLite file (and on PostgreSQL),
and a driver script runs under that environment's Python with the MLflow client:
``MlflowClient.log_batch`` with 1,000 metrics a call (its per-request limit), the
fluent ``mlflow.log_metric`` loop and ``mlflow.log_metrics(..., synchronous=False)``
(asynchronous logging). MLflow is far slower, so it logs fewer points (reported).

Every run is verified afterwards: each key's history on the server must hold exactly the
points logged. Each mode runs ``--reps`` times (interleaved); medians are reported.
Results: ``benchmarks/results/logging_throughput.json`` and ``.md``. Client and server
share this machine's cores, so absolute numbers move by up to ~30% between runs.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results"
NAME = "logging_throughput"
MARK = "@@bench "  # driver -> orchestrator protocol lines start with this
N_KEYS = 10
KEYS = tuple(f"metric_{k}" for k in range(N_KEYS))
SHIPYARD_BATCH = 10_000
MLFLOW_BATCH = 1_000  # MLflow's per-request limit for metrics
TARGET_POINTS_PER_S = 50_000.0
TARGET_RATIO = 10.0
DEFAULT_DSN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_MLFLOW_VENV = Path(tempfile.gettempdir()) / "mlflow-bench"
SERVER_START_TIMEOUT_S = 180.0


# -- drivers: the client side of one measurement, each in a fresh process --------------------
def _emit(payload: dict[str, Any]) -> None:
    sys.stdout.write(MARK + json.dumps(payload) + "\n")
    sys.stdout.flush()


def _chunk(points: int) -> int:
    return max(1, min(10_000, points // 50))


def drive_shipyard(url: str, mode: str, points: int, batch_size: int) -> dict[str, Any]:
    """Log ``points`` points to a new run on the server at ``url``; verify they all arrived."""
    import shipyard as sy
    from shipyard import Client

    client = Client(url)
    steps = points // N_KEYS
    chunk = _chunk(points)
    if mode in ("fluent", "fluent_dict"):
        sy.connect(url)
        run_id = sy.start_run(name=f"bench-{mode}").id
        t0 = time.perf_counter()
        if mode == "fluent":
            log_metric = sy.log_metric
            for start in range(0, points, chunk):
                for i in range(start, min(start + chunk, points)):
                    log_metric(KEYS[i % N_KEYS], i * 0.001, step=i // N_KEYS)
                _emit({"progress": min(start + chunk, points)})
        else:
            step_chunk = max(1, chunk // N_KEYS)
            for start in range(0, steps, step_chunk):
                for s in range(start, min(start + step_chunk, steps)):
                    sy.log_metrics({key: s * 0.001 + k for k, key in enumerate(KEYS)}, step=s)
                _emit({"progress": min(start + step_chunk, steps) * N_KEYS})
        sy.end_run()
        seconds = time.perf_counter() - t0
    elif mode == "batch":
        run_id = client.create_run(name="bench-batch").id
        t0 = time.perf_counter()
        for start in range(0, points, batch_size):
            now = int(time.time() * 1000)
            end = min(start + batch_size, points)
            client.log_batch(
                run_id, metrics=[(KEYS[i % N_KEYS], i * 0.001, i // N_KEYS, now) for i in range(start, end)]
            )
            _emit({"progress": end})
        seconds = time.perf_counter() - t0
        client.update_run(run_id, status="FINISHED")
    else:
        raise SystemExit(f"unknown Shipyard mode {mode!r}")
    counts = {key: client.get_metric_history(run_id, key, max_points=25_000).total_points for key in KEYS}
    return {"seconds": seconds, "run_id": run_id, "counts": counts}


MLFLOW_DRIVER = r'''
"""MLflow side of benchmarks/logging_throughput.py; runs under the MLflow venv's Python."""
import json, sys, time

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric

MARK = "@@bench "
url, mode, points, batch_size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
keys = [f"metric_{k}" for k in range(10)]
n_keys = len(keys)
steps = points // n_keys
chunk = max(1, min(10_000, points // 50))


def emit(payload):
    sys.stdout.write(MARK + json.dumps(payload) + "\n")
    sys.stdout.flush()


mlflow.set_tracking_uri(url)
client = MlflowClient(url)
experiment_id = client.create_experiment(f"bench-{mode}-{time.time_ns()}")
if mode == "batch":
    run_id = client.create_run(experiment_id, run_name="bench-batch").info.run_id
    t0 = time.perf_counter()
    for start in range(0, points, batch_size):
        now = int(time.time() * 1000)
        end = min(start + batch_size, points)
        metrics = [Metric(keys[i % n_keys], i * 0.001, now, i // n_keys) for i in range(start, end)]
        client.log_batch(run_id, metrics=metrics)
        emit({"progress": end})
    seconds = time.perf_counter() - t0
    client.set_terminated(run_id)
elif mode in ("fluent", "fluent_async"):
    mlflow.set_experiment(experiment_id=experiment_id)
    run_id = mlflow.start_run(run_name=f"bench-{mode}").info.run_id
    t0 = time.perf_counter()
    if mode == "fluent":
        for start in range(0, points, chunk):
            for i in range(start, min(start + chunk, points)):
                mlflow.log_metric(keys[i % n_keys], i * 0.001, step=i // n_keys)
            emit({"progress": min(start + chunk, points)})
    else:
        step_chunk = max(1, chunk // n_keys)
        for start in range(0, steps, step_chunk):
            for s in range(start, min(start + step_chunk, steps)):
                mlflow.log_metrics({key: s * 0.001 + k for k, key in enumerate(keys)}, step=s, synchronous=False)
            emit({"progress": min(start + step_chunk, steps) * n_keys})
        mlflow.flush_async_logging()
    mlflow.end_run()
    seconds = time.perf_counter() - t0
else:
    raise SystemExit(f"unknown MLflow mode {mode!r}")
counts = {key: len(client.get_metric_history(run_id, key)) for key in keys}
emit({"result": {"seconds": seconds, "run_id": run_id, "counts": counts, "mlflow_version": mlflow.__version__}})
'''


# -- servers -------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def stop_group(proc: subprocess.Popen[Any], grace_s: float = 10.0) -> None:
    """Stop a process started with ``start_new_session=True`` and everything it spawned."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace_s)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers (uvicorn workers) even if the leader exited
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(grace_s)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _get(url: str, timeout_s: float = 2.0) -> int:
    import urllib.request

    with urllib.request.urlopen(url, timeout=timeout_s) as response:  # loopback only
        status: int = response.status
        return status


@dataclass(frozen=True)
class Server:
    url: str
    pgid: int  # the server's process group: its workers and helper processes


def _group_cpu_s(pgid: int) -> float | None:
    """CPU seconds used so far by the live processes of a process group (Linux /proc)."""
    if not Path("/proc/self/stat").exists():
        return None
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            data = stat.read_text()
        except OSError:
            continue
        fields = data[data.rindex(")") + 2 :].split()  # after "pid (comm) "
        if int(fields[2]) == pgid:  # pgrp; utime and stime are fields[11] and fields[12]
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def settle(server: Server, *, busy_share: float = 0.1, window_s: float = 0.5, max_wait_s: float = 60.0) -> float:
    """Wait until the server's processes are idle (below ``busy_share`` of one CPU): a
    freshly started server may still be importing or starting helpers (MLflow's job
    runner and its consumers) and would steal CPU from the measurement. Seconds waited."""
    started = time.monotonic()
    previous = _group_cpu_s(server.pgid)
    if previous is None:
        return 0.0
    while time.monotonic() - started < max_wait_s:
        time.sleep(window_s)
        current = _group_cpu_s(server.pgid)
        if current is None or current - previous < busy_share * window_s:
            break
        previous = current
    return round(time.monotonic() - started, 1)


@contextlib.contextmanager
def serving(cmd: list[str], *, env: dict[str, str], cwd: Path, health_path: str, log: Path) -> Iterator[Server]:
    """Run a server on a free loopback port (``{port}`` in ``cmd``) until the block ends."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            [part.replace("{port}", str(port)) for part in cmd],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + SERVER_START_TIMEOUT_S
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"server exited with {proc.returncode}: {' '.join(cmd)}\n{_tail(log)}")
                try:
                    if _get(url + health_path) == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server not up within {SERVER_START_TIMEOUT_S:.0f}s\n{_tail(log)}")
                time.sleep(0.2)
            yield Server(url, proc.pid)
        finally:
            stop_group(proc)


def run_checked(cmd: list[str], *, env: dict[str, str] | None = None, timeout_s: float = 600) -> str:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout_s, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout


# -- PostgreSQL scratch databases ------------------------------------------------------------
def _pg_conninfo(dsn: str, database: str | None = None) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(dsn).set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


def _sa_url(dsn: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(dsn).set(database=database).render_as_string(hide_password=False)


def pg_version(dsn: str) -> str | None:
    import psycopg

    try:
        with psycopg.connect(_pg_conninfo(dsn), connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else "?"
    except psycopg.Error:
        return None


@contextlib.contextmanager
def scratch_database(dsn: str, prefix: str) -> Iterator[str]:
    """Create a fresh database on the server named by ``dsn``; yield its name; drop it."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_pg_conninfo(dsn), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(_pg_conninfo(dsn), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- measurements --------------------------------------------------------------------------
@dataclass(frozen=True)
class Mode:
    name: str
    api: str
    points: int
    batch_size: int
    floor_rate: float  # points/s; a run slower than this is treated as hung and killed


@dataclass
class Target:
    system: str  # shipyard | mlflow
    database: str  # sqlite | postgresql
    server_log: str
    modes: list[Mode]
    open_server: Callable[[Path], contextlib.AbstractContextManager[Server]]
    driver: Callable[[str, Mode, Path], list[str]]
    driver_env: dict[str, str]
    results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    error: str | None = None

    @property
    def label(self) -> str:
        return f"{self.system}/{self.database}" + (f" (log {self.server_log})" if self.system == "shipyard" else "")


def run_driver(
    cmd: list[str], *, env: dict[str, str], timeout_s: float, on_progress: Callable[[int], None], log: Path
) -> dict[str, Any]:
    """Run one driver process; forward its progress; return its result (bounded by ``timeout_s``)."""
    with log.open("wb") as err:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            start_new_session=True,
        )
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            stop_group(proc, grace_s=2)

        watchdog = threading.Timer(timeout_s, kill)
        watchdog.start()
        result: dict[str, Any] | None = None
        try:
            stdout: IO[str] | None = proc.stdout
            assert stdout is not None
            for line in stdout:
                if not line.startswith(MARK):
                    continue
                message = json.loads(line[len(MARK) :])
                if "progress" in message:
                    on_progress(int(message["progress"]))
                elif "result" in message:
                    result = message["result"]
            proc.wait()
        finally:
            watchdog.cancel()
            stop_group(proc, grace_s=2)
    if timed_out.is_set():
        raise RuntimeError(f"driver killed after {timeout_s:.0f}s: {' '.join(cmd)}\n{_tail(log)}")
    if proc.returncode != 0 or result is None:
        raise RuntimeError(f"driver failed ({proc.returncode}): {' '.join(cmd)}\n{_tail(log)}")
    return result


def shipyard_driver(url: str, mode: Mode, _tmp: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        f"benchmarks.{NAME}",
        "--drive",
        url,
        mode.name,
        str(mode.points),
        str(mode.batch_size),
    ]


def summarize(reps: list[dict[str, Any]]) -> dict[str, Any]:
    good = [r for r in reps if r.get("ok")]
    if not good:
        return {"median_points_per_s": None, "median_seconds": None, "ok": False}
    rates = [r["points_per_s"] for r in good]
    return {
        "median_points_per_s": round(statistics.median(rates), 1),
        "median_seconds": round(statistics.median(r["seconds"] for r in good), 3),
        "min_points_per_s": round(min(rates), 1),
        "max_points_per_s": round(max(rates), 1),
        "ok": len(good) == len(reps),
    }


def _load() -> float | None:
    """The 1-minute load average: other work on the machine skews a repetition."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _advance(progress: Progress, task: TaskID, completed: int) -> None:
    progress.update(task, completed=completed)


def _run_mode(target: Target, server: Server, mode: Mode, label: str, tmp: Path, progress: Progress) -> dict[str, Any]:
    """One measurement: settle, run a driver, check every point arrived."""
    record: dict[str, Any] = {"points": mode.points, "settled_after_s": settle(server), "loadavg_1m_before": _load()}
    task = progress.add_task(f"{target.label} {mode.name} {label}", total=mode.points)
    try:
        out = run_driver(
            target.driver(server.url, mode, tmp),
            env=target.driver_env,
            timeout_s=120 + mode.points / mode.floor_rate,
            on_progress=partial(_advance, progress, task),
            log=tmp / f"driver-{target.system}-{target.database}-{mode.name}-{label.strip('#')}.log",
        )
        expected = mode.points // N_KEYS
        missing = {k: expected - n for k, n in out["counts"].items() if n != expected}
        record |= {
            "seconds": round(out["seconds"], 4),
            "points_per_s": round(mode.points / out["seconds"], 1),
            "verified_points": sum(out["counts"].values()),
            "ok": not missing and len(out["counts"]) == N_KEYS,
        }
        if "mlflow_version" in out:
            record["mlflow_version"] = out["mlflow_version"]
        if missing:
            record["error"] = f"points missing per key: {missing}"
    except (RuntimeError, OSError, ValueError) as exc:
        record |= {"ok": False, "error": str(exc)}
    finally:
        progress.remove_task(task)
    return record


def measure(target: Target, reps: int, tmp: Path, progress: Progress, console: Console) -> None:
    with target.open_server(tmp) as server:
        for mode in target.modes:  # warm-up, not recorded: first requests, caches, lazy imports
            warm = replace(mode, points=max(N_KEYS, mode.points // 50 // N_KEYS * N_KEYS))
            record = _run_mode(target, server, warm, "warm-up", tmp, progress)
            if not record["ok"]:
                console.log(f"[red]{target.label} {mode.name} warm-up failed:[/red] {record.get('error')}")
        for rep in range(1, reps + 1):
            for mode in target.modes:
                record = {"rep": rep} | _run_mode(target, server, mode, f"#{rep}", tmp, progress)
                target.results.setdefault(mode.name, []).append(record)
                if record["ok"]:
                    console.log(
                        f"{target.label:34} {mode.name:13} #{rep}: {mode.points:>9,} points in "
                        f"{record['seconds']:8.2f} s = {record['points_per_s']:>10,.0f} points/s (verified)"
                    )
                else:
                    console.log(f"[red]{target.label} {mode.name} #{rep} failed:[/red] {record.get('error')}")


# -- the targets -----------------------------------------------------------------------------
def shipyard_modes(points: int) -> list[Mode]:
    return [
        Mode("fluent", "sy.log_metric(key, value, step=i); timed until sy.end_run() returns", points, 0, 2_000),
        Mode("fluent_dict", "sy.log_metrics({10 keys}, step=i); timed until sy.end_run() returns", points, 0, 2_000),
        Mode("batch", f"client.log_batch(run_id, metrics=[{SHIPYARD_BATCH:,} points])", points, SHIPYARD_BATCH, 2_000),
    ]


def mlflow_modes(batch_points: int, fluent_points: int, async_points: int) -> list[Mode]:
    return [
        Mode("batch", f"MlflowClient.log_batch(run_id, metrics=[{MLFLOW_BATCH:,} Metric])", batch_points, 1000, 100),
        Mode("fluent", "mlflow.log_metric(key, value, step=i); timed until mlflow.end_run()", fluent_points, 0, 5),
        Mode(
            "fluent_async",
            "mlflow.log_metrics({10 keys}, step=i, synchronous=False); flush_async_logging + end_run",
            async_points,
            0,
            50,
        ),
    ]


def shipyard_target(database: str, log_level: str, points: int, dsn: str) -> Target:
    shipyard = str(Path(sys.executable).parent / "shipyard")
    env = os.environ | {"SHIPYARD_LOGGING_LEVEL": log_level}
    driver_env = dict(os.environ)  # gains each server's admin token (the server authenticates every call)

    @contextlib.contextmanager
    def open_server(tmp: Path) -> Iterator[Server]:
        home = Path(tempfile.mkdtemp(prefix=f"shipyard-{database}-", dir=tmp))
        base = [shipyard, "--home", str(home)]
        with contextlib.ExitStack() as stack:
            if database == "postgresql":  # a fresh database, dropped after the server stopped
                name = stack.enter_context(scratch_database(dsn, "shipyard_bench"))
                base += ["--database-url", _sa_url(dsn, name)]
                run_checked([*base, "db", "upgrade"], env=env)
            created = run_checked([*base, "admin", "create-user", "bench", "--admin", "--json"], env=env)
            driver_env["SHIPYARD_CLIENT_TOKEN"] = json.loads(created)["token"]["token"]
            yield stack.enter_context(
                serving(
                    [*base, "server", "--port", "{port}", "--workers", "1"],
                    env=env,
                    cwd=home,
                    health_path="/healthz",
                    log=home / "server.log",
                )
            )

    return Target("shipyard", database, log_level, shipyard_modes(points), open_server, shipyard_driver, driver_env)


def mlflow_target(database: str, venv: Path, modes: list[Mode], dsn: str) -> Target:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env |= {"PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "1"}

    @contextlib.contextmanager
    def open_server(tmp: Path) -> Iterator[Server]:
        home = Path(tempfile.mkdtemp(prefix=f"mlflow-{database}-", dir=tmp))
        with contextlib.ExitStack() as stack:
            if database == "postgresql":  # a fresh database, dropped after the server stopped
                name = stack.enter_context(scratch_database(dsn, "mlflow_bench"))
                backend = _pg_conninfo(dsn, name).replace("postgresql://", "postgresql+psycopg2://", 1)
            else:
                backend = f"sqlite:///{home / 'mlflow.db'}"
            cmd = [str(venv / "bin" / "mlflow"), "server", "--backend-store-uri", backend]
            cmd += ["--artifacts-destination", str(home / "artifacts"), "--host", "127.0.0.1", "--port", "{port}"]
            cmd += ["--workers", "1"]
            yield stack.enter_context(serving(cmd, env=env, cwd=home, health_path="/health", log=home / "server.log"))

    def driver(url: str, mode: Mode, tmp: Path) -> list[str]:
        script = tmp / "mlflow_driver.py"
        if not script.exists():
            script.write_text(MLFLOW_DRIVER)
        return [str(venv / "bin" / "python"), str(script), url, mode.name, str(mode.points), str(mode.batch_size)]

    return Target("mlflow", database, "default", modes, open_server, driver, env)


def ensure_mlflow(venv: Path, console: Console) -> str:
    """MLflow (and psycopg2 for its PostgreSQL store) in a throwaway venv; its version."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import mlflow, psycopg2; print(mlflow.__version__)"]
    if python.exists():
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            return run_checked(probe, timeout_s=120).strip()
    with console.status(f"installing MLflow into {venv} (outside the repository) ..."):
        if not python.exists():
            run_checked([sys.executable, "-m", "venv", str(venv)], timeout_s=300)
        run_checked(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "mlflow",
                "psycopg2-binary",
            ],
            timeout_s=1800,
        )
    return run_checked(probe, timeout_s=120).strip()


# -- machine and results -----------------------------------------------------------------------
def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def _mem_gib() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    return None


def _git_commit() -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if head.returncode == 0:
            return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    return None


def machine_info() -> dict[str, Any]:
    import shipyard

    versions = {}
    for dist in ("sqlalchemy", "pydantic", "fastapi", "uvicorn", "httpx", "psycopg"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[dist] = importlib.metadata.version(dist)
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": _mem_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "shipyard_version": shipyard.__version__,
        "shipyard_commit": _git_commit(),
        "sqlite_version": sqlite3.sqlite_version,
        "loadavg_1m_at_start": _load(),
        "libraries": versions,
    }


def _best(target: Target | None, modes: tuple[str, ...]) -> tuple[str, float] | None:
    if target is None:
        return None
    found = [
        (mode, s["median_points_per_s"])
        for mode in modes
        if mode in target.results and (s := summarize(target.results[mode]))["median_points_per_s"] is not None
    ]
    return max(found, key=lambda x: x[1]) if found else None


def ratios(shipyard: Target | None, mlflow: Target | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    comparisons = {
        "best_vs_best": (("fluent", "fluent_dict", "batch"), ("batch", "fluent", "fluent_async")),
        "batch_vs_batch": (("batch",), ("batch",)),
        "fluent_vs_fluent": (("fluent", "fluent_dict"), ("fluent", "fluent_async")),
    }
    for name, (ours, theirs) in comparisons.items():
        a, b = _best(shipyard, ours), _best(mlflow, theirs)
        if a and b:
            out[name] = {
                "shipyard_mode": a[0],
                "shipyard_points_per_s": a[1],
                "mlflow_mode": b[0],
                "mlflow_points_per_s": b[1],
                "ratio": round(a[1] / b[1], 1),
            }
    return out


def build_report(
    targets: list[Target], machine: dict[str, Any], config: dict[str, Any], notes: list[str]
) -> dict[str, Any]:
    def find(system: str, database: str, log: str | None = None) -> Target | None:
        for t in targets:
            if t.system == system and t.database == database and (log is None or t.server_log == log):
                return t
        return None

    entries = []
    for t in targets:
        for mode in t.modes:
            reps = t.results.get(mode.name, [])
            entries.append(
                {
                    "system": t.system,
                    "database": t.database,
                    "server_log": t.server_log,
                    "mode": mode.name,
                    "api": mode.api,
                    "points": mode.points,
                    "batch_size": mode.batch_size or None,
                    **summarize(reps),
                    "reps": reps,
                }
                | ({"error": t.error} if t.error else {})
            )
    report_ratios = {
        db: r for db in ("sqlite", "postgresql") if (r := ratios(find("shipyard", db, "WARNING"), find("mlflow", db)))
    }
    sq = find("shipyard", "sqlite", "WARNING")
    targets_check: dict[str, Any] = {}
    if sq is not None:
        for mode in sq.modes:
            median = summarize(sq.results.get(mode.name, []))["median_points_per_s"]
            targets_check[f"sqlite_{mode.name}_ge_{int(TARGET_POINTS_PER_S)}_points_per_s"] = (
                median is not None and median >= TARGET_POINTS_PER_S
            )
    for name, r in report_ratios.get("sqlite", {}).items():
        if name in ("best_vs_best", "batch_vs_batch"):
            targets_check[f"sqlite_{name}_ge_{int(TARGET_RATIO)}x"] = r["ratio"] >= TARGET_RATIO
    return {
        "benchmark": NAME,
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "config": config,
        "targets": {"points_per_s_sqlite": TARGET_POINTS_PER_S, "ratio_vs_mlflow": TARGET_RATIO},
        "target_met": targets_check,
        "results": entries,
        "ratios": report_ratios,
        "notes": notes,
    }


def _fmt_rate(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def render_markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# Metric logging throughput: Shipyard vs MLflow",
        "",
        "End-to-end metric points per second from the SDK into a real server over loopback, verified on the "
        "server afterwards (every key's history holds every point). Medians of "
        f"{report['config']['reps']} interleaved repetitions; each repetition is a fresh client process and a new run. "
        f"Generated {report['generated']} by `python -m benchmarks.logging_throughput`.",
        "",
        f"Machine: {m['cpu_model']}, **{m['cpu_count']} CPUs shared by client and server**, {m['memory_gib']} GiB; "
        f"Python {m['python']}; SQLite {m['sqlite_version']}; Shipyard {m['shipyard_version']} "
        f"({m.get('shipyard_commit') or '?'}); MLflow {m.get('mlflow_version') or '—'}; "
        f"PostgreSQL {m.get('postgresql_version') or '—'}. 1-minute load average at the start: "
        f"{m.get('loadavg_1m_at_start')} (per repetition in the JSON).",
        "",
        "| system | database | server log | mode | API | points / rep | median s | median points/s | range points/s |",
        "|---|---|---|---|---|---:|---:|---:|---:|",
    ]
    for e in report["results"]:
        rng = (
            f"{_fmt_rate(e.get('min_points_per_s'))} to {_fmt_rate(e.get('max_points_per_s'))}"
            if e.get("min_points_per_s") is not None
            else "failed"
        )
        seconds = "—" if e["median_seconds"] is None else f"{e['median_seconds']:.2f}"
        lines.append(
            f"| {e['system']} | {e['database']} | {e['server_log']} | `{e['mode']}` | {e['api']} | {e['points']:,} "
            f"| {seconds} | **{_fmt_rate(e['median_points_per_s'])}** | {rng} |"
        )
    lines += ["", "## Shipyard / MLflow (medians, Shipyard server log WARNING)", ""]
    if report["ratios"]:
        lines += ["| database | comparison | Shipyard | MLflow | ratio |", "|---|---|---|---|---:|"]
        for db, rs in report["ratios"].items():
            for name, r in rs.items():
                lines.append(
                    f"| {db} | {name.replace('_', ' ')} "
                    f"| `{r['shipyard_mode']}` {_fmt_rate(r['shipyard_points_per_s'])} "
                    f"| `{r['mlflow_mode']}` {_fmt_rate(r['mlflow_points_per_s'])} | **{r['ratio']:,.1f}x** |"
                )
    else:
        lines.append("No ratio: MLflow was not measured in this run.")
    lines += [
        "",
        f"## Targets (≥ {TARGET_POINTS_PER_S:,.0f} points/s end to end on SQLite; ≥ {TARGET_RATIO:.0f}x MLflow on the "
        "same machine and database kind)",
        "",
    ]
    for name, met in report["target_met"].items():
        lines.append(f"- `{name}`: {'met' if met else '**missed**'}")
    if report["notes"]:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in report["notes"]]
    lines += ["", "All repetitions, versions and settings: `logging_throughput.json`.", ""]
    return "\n".join(lines)


# -- main ------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=500_000, help="points per Shipyard repetition")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--mlflow-batch-points", type=int, default=50_000)
    parser.add_argument("--mlflow-fluent-points", type=int, default=1_000)
    parser.add_argument("--mlflow-async-points", type=int, default=20_000)
    parser.add_argument("--mlflow-venv", type=Path, default=DEFAULT_MLFLOW_VENV)
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-info-log", action="store_true", help="skip Shipyard with its INFO access log")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for the .json and .md results")
    parser.add_argument("--drive", nargs=4, metavar=("URL", "MODE", "POINTS", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.drive:  # the client side of one Shipyard measurement (a subprocess of the run below)
        url, mode, points, batch = args.drive
        _emit({"result": drive_shipyard(url, mode, int(points), int(batch))})
        return 0

    console = Console(log_path=False)

    def round_points(n: int) -> int:
        return max(N_KEYS, n - n % N_KEYS)

    points = round_points(args.points)
    machine = machine_info()
    notes: list[str] = [
        f"Client and server run on the same {machine['cpu_count']}-CPU machine and compete for it; "
        "repeat runs differ by up to ~30%, so medians are quoted.",
        f"{N_KEYS} keys, step = i // {N_KEYS}; Shipyard servers run `shipyard server --workers 1`, "
        "MLflow `mlflow server --workers 1` (uvicorn, default logging: access log on; at MLflow's request "
        "rates its cost is negligible).",
        "Each mode gets one unrecorded warm-up run per server, and every measurement waits until the server's "
        "processes are idle: MLflow's server starts a job runner and 7 huey consumer processes that stay busy "
        "for ~10 s after /health answers.",
        "Timed: from the first logging call until everything is on the server (client start-up, run creation "
        "and the verification read are not timed).",
    ]
    dsn = os.environ.get("SHIPYARD_BENCH_POSTGRES", DEFAULT_DSN)
    pg = None if args.skip_postgres else pg_version(dsn)
    if not args.skip_postgres and pg is None:
        notes.append(f"PostgreSQL skipped: nothing reachable at {_pg_conninfo(dsn).split('@')[-1]}.")
    machine["postgresql_version"] = pg

    targets: list[Target] = [shipyard_target("sqlite", "WARNING", points, dsn)]
    if not args.skip_info_log:
        targets.append(shipyard_target("sqlite", "INFO", points, dsn))
    if pg:
        targets.append(shipyard_target("postgresql", "WARNING", points, dsn))
    mlflow_version = None
    if not args.skip_mlflow:
        try:
            mlflow_version = ensure_mlflow(args.mlflow_venv, console)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            notes.append(f"MLflow skipped: could not install it into {args.mlflow_venv}: {exc}")
        if mlflow_version:
            modes = mlflow_modes(
                round_points(args.mlflow_batch_points),
                round_points(args.mlflow_fluent_points),
                round_points(args.mlflow_async_points),
            )
            targets.append(mlflow_target("sqlite", args.mlflow_venv, modes, dsn))
            if pg:
                targets.append(mlflow_target("postgresql", args.mlflow_venv, modes, dsn))
            notes.append(
                "MLflow logs fewer points per repetition than Shipyard (it is far slower); the counts are in the table."
            )
    machine["mlflow_version"] = mlflow_version
    config = {
        "reps": args.reps,
        "keys": N_KEYS,
        "shipyard_points": points,
        "shipyard_batch": SHIPYARD_BATCH,
        "mlflow_batch": MLFLOW_BATCH,
        "postgresql": _pg_conninfo(dsn).split("@")[-1] if pg else None,
    }

    console.rule("metric logging throughput")
    with (
        tempfile.TemporaryDirectory(prefix="shipyard-bench-logging-") as tmp_name,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress,
    ):
        for target in targets:
            try:
                measure(target, args.reps, Path(tmp_name), progress, console)
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                target.error = str(exc)
                console.log(f"[red]{target.label} failed:[/red] {exc}")

    report = build_report(targets, machine, config, notes)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{NAME}.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / f"{NAME}.md").write_text(render_markdown(report))
    show(report, console)
    console.print(f"results: {args.out / (NAME + '.json')} and {args.out / (NAME + '.md')}")
    failed = any(not e["ok"] for e in report["results"])
    return 1 if failed else 0


def show(report: dict[str, Any], console: Console) -> None:
    table = Table(title="metric logging throughput (medians)")
    for column in ("system", "database", "server log", "mode", "points", "median s", "points/s"):
        table.add_column(column, justify="right" if column in ("points", "median s", "points/s") else "left")
    for e in report["results"]:
        table.add_row(
            e["system"],
            e["database"],
            e["server_log"],
            e["mode"],
            f"{e['points']:,}",
            "—" if e["median_seconds"] is None else f"{e['median_seconds']:.2f}",
            _fmt_rate(e["median_points_per_s"]),
        )
    console.print(table)
    for db, rs in report["ratios"].items():
        for name, r in rs.items():
            console.print(
                f"{db}: {name.replace('_', ' ')}: Shipyard {r['shipyard_mode']} / MLflow {r['mlflow_mode']} = "
                f"[bold]{r['ratio']:,.1f}x[/bold]"
            )
    for name, met in report["target_met"].items():
        console.print(f"target {name}: {'[green]met[/green]' if met else '[red]missed[/red]'}")


if __name__ == "__main__":
    sys.exit(main())
