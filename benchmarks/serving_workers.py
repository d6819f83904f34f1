"""``shipyard serve`` as processes: start to ready, memory with forked workers, throughput.

    .venv/bin/python -m benchmarks.serving_workers [--reps 3] [--duration 10] [--skip-wrk]

Models, trained on scikit-learn's bundled datasets and saved as Shipyard model directories:
``iris`` (``LogisticRegression``, 4 columns) and ``gbm`` (breast-cancer
``GradientBoostingClassifier(n_estimators=100)``, 30 columns).

- **start to ready**: from spawning ``shipyard serve iris --port 0`` to its ``Listening on``
  line and to the first 200 of ``/v2/health/ready``, the CPU seconds the process used until
  then (less sensitive than wall time to other load on the machine) and its RSS and PSS;
  once as it is, once with the SDK imported first (what ``import shipyard`` cost before it
  became lazy).
- **memory**: ``--workers 1`` against ``--workers 4`` for each model, after 200 requests
  spread over the workers: RSS and PSS (``/proc/<pid>/smaps_rollup``: shared pages divided
  among the processes sharing them, the honest sum) of the parent and every worker.
- **throughput**: iris, V2, one row per request, ``wrk -t1 -c16`` for ``--duration`` s,
  ``--workers 1`` against ``--workers 2``, interleaved, ``--reps`` times (medians).

Client and servers share the machine (see README.md): quote medians, compare within a run.
Results: ``benchmarks/results/serving_workers.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

RESULTS = Path(__file__).parent / "results"
SHIPYARD = Path(sys.executable).parent / "shipyard"
LISTENING = re.compile(r"Listening on (http://\S+)")
IRIS_ROW = {"inputs": [{"name": "x", "datatype": "FP64", "shape": [1, 4], "data": [5.1, 3.5, 1.4, 0.2]}]}
SDK_FIRST = "import shipyard.client, shipyard.fluent, shipyard.sdk\nfrom shipyard.cli.main import run\nrun()"


def train(work: Path) -> dict[str, Path]:
    from sklearn.datasets import load_breast_cancer, load_iris
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    from shipyard.models import save_model

    ix, iy = load_iris(return_X_y=True)
    bx, by = load_breast_cancer(return_X_y=True)
    save_model(LogisticRegression(max_iter=1000).fit(ix, iy), work / "iris", input_example=ix[:2])
    save_model(GradientBoostingClassifier(n_estimators=100, random_state=0).fit(bx, by), work / "gbm",
               input_example=bx[:2])  # fmt: skip
    return {"iris": work / "iris", "gbm": work / "gbm"}


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def memory_kb(pid: int) -> dict[str, int]:
    """RSS and PSS of one process, in KiB."""
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("Rss", "Pss"):
            out[key.lower()] = int(rest.split()[0])
    return out


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def server(
    model: Path, *args: str, sdk_first: bool = False
) -> Iterator[tuple[str, subprocess.Popen[str], dict[str, float]]]:
    """``shipyard serve MODEL ARGS`` until ready: its URL, process and timings (seconds from
    spawn to listening and to ready, CPU seconds used until ready)."""
    home = tempfile.mkdtemp(prefix="shipyard-bench-home-")
    base = [sys.executable, "-c", SDK_FIRST] if sdk_first else [str(SHIPYARD)]
    command = [*base, "--home", home, "serve", str(model), "--name", model.name, "--port", "0", *args]
    started = time.perf_counter()
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        assert proc.stderr is not None
        url = None
        for line in proc.stderr:
            found = LISTENING.search(line)
            if found:
                url = found.group(1)
                listening = time.perf_counter() - started
                break
        if url is None:
            raise RuntimeError(f"the server did not start: {proc.wait()}")
        while True:
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.01)
        ready = time.perf_counter() - started
        yield url, proc, {"listening_s": listening, "ready_s": ready, "cpu_s": cpu_s(proc.pid)}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(home, ignore_errors=True)


def start_to_ready(models: dict[str, Path], reps: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, sdk_first in (("lazy", False), ("sdk imported first", True)):
        runs = []
        for _ in range(reps):
            with server(models["iris"], sdk_first=sdk_first) as (_url, proc, timing):
                runs.append({**timing, **memory_kb(proc.pid), "load1": os.getloadavg()[0]})
        out[label] = {"runs": runs, **{f"median_{key}": statistics.median(r[key] for r in runs)
                                       for key in ("listening_s", "ready_s", "cpu_s", "rss", "pss")}}  # fmt: skip
    return out


def memory(models: dict[str, Path], body: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, path in models.items():
        for workers in (1, 4):
            with server(path, "--workers", str(workers)) as (url, proc, timing):
                for _ in range(200):  # new connections: spread over the workers
                    httpx.post(f"{url}/v2/models/{key}/infer", json=body[key]).raise_for_status()
                pids = [proc.pid, *children(proc.pid)]
                per = {pid: memory_kb(pid) for pid in pids}
                out[f"{key} x{workers}"] = {
                    "ready_s": timing["ready_s"],
                    "processes": len(pids),
                    "rss_mib": sum(m["rss"] for m in per.values()) / 1024,
                    "pss_mib": sum(m["pss"] for m in per.values()) / 1024,
                    "parent_pss_mib": per[proc.pid]["pss"] / 1024,
                    "per_process": {str(pid): m for pid, m in per.items()},
                }
    return out


def wrk(url: str, duration: int, work: Path) -> dict[str, float]:
    script = work / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(json.dumps(IRIS_ROW))}\n"
    )
    text = subprocess.run(
        ["wrk", "-t1", "-c16", f"-d{duration}s", "--latency", "-s", str(script), f"{url}/v2/models/iris/infer"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", text)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return {
        "rps": rps,
        "non_2xx": float(errors.group(1)) if errors else 0.0,
        "p50_ms": float(p50.group(1)) * scale[p50.group(2)] if p50 else float("nan"),
        "load1": os.getloadavg()[0],
    }


def throughput(models: dict[str, Path], reps: int, duration: int, work: Path) -> dict[str, Any]:
    runs: dict[str, list[dict[str, float]]] = {"x1": [], "x2": []}
    for _ in range(reps):
        for workers in (1, 2):
            with server(models["iris"], "--workers", str(workers)) as (url, _proc, _timing):
                httpx.post(f"{url}/v2/models/iris/infer", json=IRIS_ROW).raise_for_status()
                runs[f"x{workers}"].append(wrk(url, duration, work))
    return {
        key: {"runs": value, "median_rps": statistics.median(r["rps"] for r in value)} for key, value in runs.items()
    }


def report(results: dict[str, Any]) -> str:
    lines = ["# `shipyard serve`: start to ready, workers' memory, throughput", ""]
    lines += [f"Machine: {results['machine']}; medians of {results['reps']}.", ""]
    lines += ["| start (iris) | to listening s | to ready s | CPU s to ready | RSS MiB | PSS MiB |"]
    lines += ["|---|---:|---:|---:|---:|---:|"]
    for label, row in results["start_to_ready"].items():
        rss, pss = row["median_rss"] / 1024, row["median_pss"] / 1024
        lines.append(f"| {label} | {row['median_listening_s']:.2f} | {row['median_ready_s']:.2f} "
                     f"| {row['median_cpu_s']:.2f} | {rss:.0f} | {pss:.0f} |")  # fmt: skip
    lines += ["", "| model x workers | processes | RSS MiB (sum) | PSS MiB (sum) | parent PSS MiB |"]
    lines += ["|---|---:|---:|---:|---:|"]
    for label, row in results["memory"].items():
        lines.append(f"| {label} | {row['processes']} | {row['rss_mib']:.0f} | {row['pss_mib']:.0f} "
                     f"| {row['parent_pss_mib']:.0f} |")  # fmt: skip
    if results.get("throughput"):
        lines += ["", "| iris V2 1 row, c=16 | req/s (median) | runs |", "|---|---:|---|"]
        for label, row in results["throughput"].items():
            each = ", ".join(f"{r['rps']:.0f}" for r in row["runs"])
            lines.append(f"| --workers {label[1:]} | {row['median_rps']:.0f} | {each} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--skip-wrk", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="shipyard-bench-workers-"))
    try:
        models = train(work)
        body = {"iris": IRIS_ROW, "gbm": {"inputs": [{"name": "x", "datatype": "FP64", "shape": [1, 30],
                                                      "data": [1.0] * 30}]}}  # fmt: skip
        results: dict[str, Any] = {
            "machine": f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
            "reps": args.reps,
            "start_to_ready": start_to_ready(models, args.reps),
            "memory": memory(models, body),
        }
        if not args.skip_wrk and shutil.which("wrk"):
            results["throughput"] = throughput(models, args.reps, args.duration, work)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "serving_workers.json").write_text(json.dumps(results, indent=2))
        text = report(results)
        (args.out / "serving_workers.md").write_text(text)
        print(text)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
