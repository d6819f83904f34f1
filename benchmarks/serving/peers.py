"""The servers: throwaway venvs for the peers, how each is started on a loopback port, its
readiness, start-to-ready time and memory, and a stop that leaves nothing running.

Peers are installed into ``/tmp/shipyard-bench-venvs/<peer>`` (``--venvs``), one venv each,
reused when present, never into the project environment; Shipyard and the bare ASGI
ceiling run from the project venv.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from benchmarks.logging_throughput import ROOT, Server, _get, _tail, free_port, run_checked, stop_group
from benchmarks.serving import glue
from benchmarks.serving.models import BenchModel, save_mlflow

DEFAULT_VENVS = Path(tempfile.gettempdir()) / "shipyard-bench-venvs"
READY_TIMEOUT_S = 120.0
READY_POLL_S = 0.02
INSTALL_TIMEOUT_S = 1800.0
SHIPYARD_BATCH = 32  # `shipyard serve` defaults: --max-batch-size 32 --max-batch-wait-ms 2
SHIPYARD_BATCH_WAIT_MS = 2.0
# Telemetry and usage tracking off for every process started here.
QUIET_ENV = {
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "BENTOML_DO_NOT_TRACK": "True",
    "PYTHONUNBUFFERED": "1",
}


@dataclass(frozen=True)
class Peer:
    """A peer installed into its own venv: the requirements (scikit-learn is pinned to the
    project's version, so the joblib files load identically) and the distributions to report."""

    name: str
    requirements: tuple[str, ...]
    report: tuple[str, ...]


def _sklearn_pin() -> str:
    return f"scikit-learn=={importlib.metadata.version('scikit-learn')}"


def peers() -> dict[str, Peer]:
    sk = _sklearn_pin()
    return {
        "mlflow": Peer("mlflow", ("mlflow==3.17.*", sk), ("mlflow", "uvicorn", "fastapi", "pandas", "numpy")),
        "kserve": Peer("kserve", ("kserve==0.21.*", sk), ("kserve", "uvicorn", "fastapi", "uvloop", "httptools")),
        "mlserver": Peer(
            "mlserver",
            ("mlserver==1.7.1", "mlserver-sklearn==1.7.1", "uvloop==0.21.0", sk),
            ("mlserver", "mlserver-sklearn", "uvicorn", "fastapi", "uvloop", "httptools"),
        ),
        "bentoml": Peer("bentoml", ("bentoml==1.4.*", sk), ("bentoml", "uvicorn", "starlette", "numpy")),
    }


PROBE = (
    "import importlib.metadata as m, json, sys\n"
    "out = {}\n"
    "for d in sys.argv[1:]:\n"
    "    try:\n"
    "        out[d] = m.version(d)\n"
    "    except m.PackageNotFoundError:\n"
    "        out[d] = None\n"
    "print(json.dumps(out))\n"
)


def _probe(python: Path, dists: tuple[str, ...]) -> dict[str, str | None]:
    out: dict[str, str | None] = json.loads(run_checked([str(python), "-c", PROBE, *dists], timeout_s=120))
    return out


def ensure_peer(peer: Peer, venvs: Path, console: Console) -> dict[str, str | None]:
    """The peer's venv (created and installed when missing or incomplete); its versions."""
    venv = venvs / peer.name
    python = venv / "bin" / "python"
    dists = (*peer.report, "scikit-learn")
    if python.exists():
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError):
            found = _probe(python, dists)
            if found.get(peer.report[0]) and found.get("scikit-learn") == _sklearn_pin().split("==")[1]:
                return found
    with console.status(f"installing {peer.name} into {venv} (outside the repository) ..."):
        if not python.exists():
            venv.parent.mkdir(parents=True, exist_ok=True)
            run_checked([sys.executable, "-m", "venv", str(venv)], timeout_s=300)
        run_checked(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *peer.requirements],
            timeout_s=INSTALL_TIMEOUT_S,
        )
    return _probe(python, dists)


def project_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for dist in ("shipyard", "uvicorn", "starlette", "orjson", "numpy", "scikit-learn", "uvloop", "httptools"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    return out


# -- processes -------------------------------------------------------------------------------
def _proc_table() -> dict[int, tuple[int, int, int]]:
    """pid -> (ppid, pgrp, start time in ticks) for every live process (zombies left out)."""
    table: dict[int, tuple[int, int, int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            data = stat.read_text()
        except OSError:
            continue
        fields = data[data.rindex(")") + 2 :].split()  # after "pid (comm) ": state ppid pgrp ...
        if fields[0] not in ("Z", "X"):
            table[int(stat.parent.name)] = (int(fields[1]), int(fields[2]), int(fields[19]))
    return table


def tree(root: int) -> dict[int, int]:
    """The live processes of ``root``'s tree and process group: pid -> start time (ticks)."""
    table = _proc_table()
    found = {pid for pid, (_, pgrp, _) in table.items() if pgrp == root}
    if root in table:
        found.add(root)
    grew = True
    while grew:  # bounded: each pass adds at least one pid from a finite table, or stops
        grew = False
        for pid, (ppid, _, _) in table.items():
            if ppid in found and pid not in found:
                found.add(pid)
                grew = True
    return {pid: table[pid][2] for pid in found}


def _kb(path: Path, key: str) -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in path.read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    return 0


def memory(pids: dict[int, int]) -> dict[str, Any]:
    """RSS and PSS (``/proc/<pid>/smaps_rollup``) of the processes, summed, in MB (10^6 bytes)."""
    per: list[dict[str, Any]] = []
    for pid in sorted(pids):
        rss = _kb(Path(f"/proc/{pid}/status"), "VmRSS:")
        pss = _kb(Path(f"/proc/{pid}/smaps_rollup"), "Pss:")
        if rss:
            comm = ""
            with contextlib.suppress(OSError):
                comm = Path(f"/proc/{pid}/comm").read_text().strip()
            per.append(
                {
                    "pid": pid,
                    "comm": comm,
                    "rss_mb": round(rss * 1.024 / 1000, 1),
                    "pss_mb": round(pss * 1.024 / 1000, 1),
                }
            )
    return {
        "processes": len(per),
        "rss_mb": round(sum(p["rss_mb"] for p in per), 1),
        "pss_mb": round(sum(p["pss_mb"] for p in per), 1),
        "per_process": per,
    }


def cpu_seconds(pids: dict[int, int]) -> float:
    """CPU seconds used so far by the still-live processes among ``pids``."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            data = Path(f"/proc/{pid}/stat").read_text()
            fields = data[data.rindex(")") + 2 :].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def kill_leftovers(seen: dict[int, int]) -> list[int]:
    """SIGKILL any process seen in a server's tree that is still alive (same pid, same start
    time: not a reused pid), e.g. a worker that left the process group. The pids killed."""
    table = _proc_table()
    killed = []
    for pid, started in seen.items():
        if pid in table and table[pid][2] == started:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
    return killed


# -- servers -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Launch:
    cmd: list[str]
    env: dict[str, str]
    cwd: Path
    ready_path: str
    settings: dict[str, Any]  # recorded with the results


@dataclass
class Running:
    variant: str
    model: str
    url: str
    proc: subprocess.Popen[bytes]
    log: Path
    start_to_ready_s: float
    seen: dict[int, int] = field(default_factory=dict)  # every pid seen in its tree -> start time

    @property
    def server(self) -> Server:
        return Server(self.url, self.proc.pid)

    def pids(self) -> dict[int, int]:
        live = tree(self.proc.pid)
        self.seen |= live
        return live


def _ready(url: str) -> bool:
    try:
        return _get(url, timeout_s=1.0) == 200
    except OSError:  # refused, 503 (HTTPError), reset, timeout
        return False


@contextlib.contextmanager
def running(variant: str, model: str, launch: Launch, port: int, log: Path) -> Iterator[Running]:
    """Start ``launch`` (listening on loopback ``port``); yield once its readiness answers 200
    (bounded by ``READY_TIMEOUT_S``); stop its process group (SIGTERM, then SIGKILL) and any
    straggler."""
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as log_file:
        started = time.perf_counter()
        proc = subprocess.Popen(
            launch.cmd,
            cwd=launch.cwd,
            env=launch.env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        run = Running(variant, model, url, proc, log, 0.0)
        try:
            deadline = started + READY_TIMEOUT_S
            while not _ready(url + launch.ready_path):
                if proc.poll() is not None:
                    raise RuntimeError(f"{variant} exited with {proc.returncode} before ready:\n{_tail(log, 25)}")
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"{variant} not ready within {READY_TIMEOUT_S:.0f} s:\n{_tail(log, 25)}")
                run.pids()
                time.sleep(READY_POLL_S)
            run.start_to_ready_s = round(time.perf_counter() - started, 3)
            run.pids()
            yield run
        finally:
            with contextlib.suppress(Exception):
                run.pids()
            stop_group(proc)
            killed = kill_leftovers(run.seen)
            if killed:
                print(f"{variant}: killed leftover processes {killed}", file=sys.stderr)


# -- launch commands for each server -------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    """One server configuration: one process (tree) per model."""

    key: str
    title: str
    peer: str | None  # the venv it runs from (None: the project venv)
    protocols: tuple[str, ...]
    launch: Callable[[BenchModel, Path, Path, int], Launch]  # (model, work dir, venvs, port) -> Launch


def _env(extra: dict[str, str] | None = None, venv: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    if venv is not None:
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(venv)
    return env | QUIET_ENV | (extra or {})


def project_env(work: Path, extra: dict[str, str]) -> dict[str, str]:
    """The environment of a server run from the project venv: bytecode cached under the
    work directory (written by the first start, read by the next), as pip's compiled
    install gives the peers; the project venv has none (uv does not compile it)."""
    env = _env({**extra, "PYTHONPYCACHEPREFIX": str(work / "pycache")})
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


COMPILED = ROOT / "build" / "compiled"  # `make compiled`: the package as the wheel ships it (hatch_build.py)


def ensure_compiled(console: Console) -> None:
    """``make compiled``: the wheel's package, its hot path compiled, which Shipyard runs from
    here (rebuilt only when a source changed)."""
    with console.status("building the wheel, its serving hot path compiled with mypyc (make compiled) ..."):
        run_checked(["make", "-C", str(ROOT), "compiled"], timeout_s=INSTALL_TIMEOUT_S)


def _shipyard(batch: int) -> Callable[[BenchModel, Path, Path, int], Launch]:
    def launch(model: BenchModel, work: Path, _venvs: Path, port: int) -> Launch:
        home = work / "shipyard-home"
        home.mkdir(exist_ok=True)
        exe = str(Path(sys.executable).parent / "shipyard")
        cmd = [exe, "--home", str(home), "serve", str(model.paths["shipyard"]), "--name", model.name]
        cmd += ["--host", "127.0.0.1", "--port", str(port), "--max-batch-size", str(batch)]
        cmd += ["--max-batch-wait-ms", str(SHIPYARD_BATCH_WAIT_MS)]
        return Launch(
            cmd,
            project_env(work, {"SHIPYARD_LOGGING_LEVEL": "WARNING", "PYTHONPATH": str(COMPILED)}),
            work,
            "/v2/health/ready",
            {
                "max_batch_size": batch,
                "max_batch_wait_ms": SHIPYARD_BATCH_WAIT_MS,
                "log_level": "WARNING",
                "hot_path": "compiled with mypyc, as the wheel ships it (build/compiled)",
            },
        )

    return launch


def _bare(_model: BenchModel, work: Path, _venvs: Path, port: int) -> Launch:
    cmd = [sys.executable, "-m", "uvicorn", "benchmarks.serving.bare_app:app", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--no-access-log", "--log-level", "warning"]
    env = project_env(work, {"PYTHONPATH": str(ROOT)})
    return Launch(cmd, env, ROOT, "/", {"app": "benchmarks/serving/bare_app.py"})


def _mlflow(model: BenchModel, work: Path, venvs: Path, port: int) -> Launch:
    venv = venvs / "mlflow"
    path = model.paths.get("mlflow") or save_mlflow(model, venv / "bin" / "python", work)
    cmd = [str(venv / "bin" / "mlflow"), "models", "serve", "-m", str(path), "--env-manager", "local"]
    cmd += ["-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    # uvicorn reads UVICORN_* for its CLI options: the access log off
    return Launch(cmd, _env({"UVICORN_ACCESS_LOG": "false"}, venv), work, "/ping", {"workers": 1, "access_log": False})


def _kserve(model: BenchModel, work: Path, venvs: Path, port: int) -> Launch:
    venv = venvs / "kserve"
    script = work / "kserve_server.py"
    script.write_text(glue.KSERVE_SERVER)
    cmd = [str(venv / "bin" / "python"), str(script), model.name, str(model.paths["joblib"]), str(port)]
    return Launch(
        cmd,
        _env(None, venv),
        work,
        f"/v1/models/{model.name}",
        {"workers": 1, "grpc": False, "latency_logging": False, "access_log": False, "model": "kserve.Model subclass"},
    )


def _mlserver(parallel_workers: int) -> Callable[[BenchModel, Path, Path, int], Launch]:
    def launch(model: BenchModel, work: Path, venvs: Path, port: int) -> Launch:
        venv = venvs / "mlserver"
        root = work / f"mlserver-{model.key}-pw{parallel_workers}"
        (root / model.name).mkdir(parents=True, exist_ok=True)
        settings = glue.mlserver_settings(
            http_port=port, grpc_port=free_port(), metrics_port=free_port(), parallel_workers=parallel_workers
        )
        (root / "settings.json").write_text(json.dumps(settings))
        (root / model.name / "model-settings.json").write_text(
            json.dumps(glue.mlserver_model_settings(model.name, str(model.paths["joblib"])))
        )
        return Launch(
            [str(venv / "bin" / "mlserver"), "start", str(root)],
            _env(None, venv),
            root,
            f"/v2/models/{model.name}/ready",
            {k: v for k, v in settings.items() if k not in ("http_port", "grpc_port", "metrics_port")},
        )

    return launch


def _bentoml(model: BenchModel, work: Path, venvs: Path, port: int) -> Launch:
    venv = venvs / "bentoml"
    root = work / "bentoml"
    root.mkdir(exist_ok=True)
    (root / "service.py").write_text(glue.BENTOML_SERVICE)
    cmd = [str(venv / "bin" / "bentoml"), "serve", "service:Sklearn", "--host", "127.0.0.1", "--port", str(port)]
    env = _env({"SHIPYARD_BENCH_MODEL": str(model.paths["joblib"]), "BENTOML_HOME": str(root / "home")}, venv)
    return Launch(cmd, env, root, "/readyz", {"workers": 1, "access_log": False, "api": "sync np.ndarray"})


def variants() -> dict[str, Variant]:
    return {
        v.key: v
        for v in (
            Variant("shipyard", "Shipyard", None, ("v2", "v1", "mlflow"), _shipyard(SHIPYARD_BATCH)),
            Variant("shipyard-nobatch", "Shipyard, batching off", None, ("v2",), _shipyard(1)),
            Variant("bare", "bare ASGI (ceiling)", None, ("bare",), _bare),
            Variant("kserve", "KServe", "kserve", ("v1", "v2"), _kserve),
            Variant("mlserver", "MLServer", "mlserver", ("v2",), _mlserver(0)),
            Variant("mlserver-workers", "MLServer, 1 worker process", "mlserver", ("v2",), _mlserver(1)),
            Variant("mlflow", "MLflow", "mlflow", ("mlflow",), _mlflow),
            Variant("bentoml", "BentoML", "bentoml", ("bentoml",), _bentoml),
        )
    }


__all__ = [
    "DEFAULT_VENVS",
    "Launch",
    "Peer",
    "Running",
    "Variant",
    "cpu_seconds",
    "ensure_compiled",
    "ensure_peer",
    "memory",
    "peers",
    "project_versions",
    "running",
    "tree",
    "variants",
]
