"""What the endpoint gateway adds to a direct call to the model server.

    .venv/bin/python -m benchmarks.gateway [--runs 3] [--duration 10] [--warmup 2]
        [--concurrency 1,16] [--out benchmarks/results]

One go, everything on loopback: an iris model (scikit-learn's bundled dataset,
``LogisticRegression``) saved as a Shipyard model directory; two ``shipyard serve DIR
--name iris --port 0`` processes (the second only answers mirrored requests); and two
gateways, each its own process (``python -m benchmarks.gateway --serve-gateway URL``: uvicorn
with uvloop and httptools, as ``shipyard endpoints serve`` runs it), one routing 100 % to the
first server, the other doing the same and mirroring every request (sample rate 1.0) to the
second server.

``wrk -t1`` POSTs one V2 row (the serving benchmark's Lua script, see
``benchmarks/serving/load.py``) at each concurrency to three targets: the model server
directly, through the gateway, through the gateway with the shadow. Each cell runs
``--runs`` times per target, rotating the order between rounds, ``--duration`` s each
after a warm-up; medians are reported. The overhead is the gateway's p50 minus the direct
p50 and the ratio of their throughputs.

Client, gateway and model servers share the machine's cores (two on the VM the committed
results come from), so at c=16 the gateway's CPU is taken from the model server: that cost
is part of the overhead. The 1-minute load average is recorded at the start and the end.
Results: ``benchmarks/results/gateway.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from benchmarks.logging_throughput import RESULTS, ROOT, stop_group
from benchmarks.serving import load as loadgen
from benchmarks.serving.run import machine_info, summarize
from benchmarks.serving_workers import LISTENING, children, cpu_s, server

NAME = "gateway"
ENDPOINT = "iris"
PATH = f"/v2/models/{ENDPOINT}/infer"
TARGETS = {"direct": "direct to the model server", "gateway": "through the gateway", "shadow": "gateway + shadow 1.0"}
SHADOW_METRIC = re.compile(r"^shipyard_gateway_shadow_(requests|dropped)_total\{([^}]*)\} ([0-9.e+]+)$", re.M)


# -- the gateway process ------------------------------------------------------------------
def serve_gateway(primary: str, shadow: str | None) -> int:
    """Run a gateway for ``iris`` on a free loopback port until SIGTERM (the child process)."""
    import uvicorn

    from shipyard.deploy.gateway import Backend, Gateway, GatewayConfig, Shadow
    from shipyard.serving.lifecycle import announce
    from shipyard.serving.workers import bind

    shadows = [Shadow(Backend(ENDPOINT, 2, shadow), 1.0)] if shadow else []
    gateway = Gateway(
        GatewayConfig(endpoint=ENDPOINT, routes=[(Backend(ENDPOINT, 1, primary), 100.0)], shadows=shadows)
    )
    config = uvicorn.Config(gateway, loop="uvloop", http="httptools", lifespan="on", access_log=False, log_config=None)
    sock = bind("127.0.0.1", 0)
    announce(sock)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


@contextlib.contextmanager
def gateway_process(primary: str, shadow: str | None = None) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """The gateway in its own process, ready: its URL and process."""
    command = [sys.executable, "-m", "benchmarks.gateway", "--serve-gateway", primary]
    if shadow:
        command += ["--shadow", shadow]
    proc = subprocess.Popen(
        command, cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, start_new_session=True
    )
    try:
        assert proc.stderr is not None
        url = None
        for line in proc.stderr:
            if found := LISTENING.search(line):
                url = found.group(1)
                break
        if url is None:
            raise RuntimeError(f"the gateway did not start: exit status {proc.wait()}")
        stream = proc.stderr
        threading.Thread(target=lambda: [None for _ in stream], daemon=True).start()  # never let the pipe fill
        deadline = time.monotonic() + 30
        while httpx.get(f"{url}/-/ready", timeout=5).status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("the gateway never became ready")
            time.sleep(0.02)
        yield url, proc
    finally:
        stop_group(proc)


# -- the load -----------------------------------------------------------------------------
@dataclass
class Target:
    key: str
    url: str
    pids: list[int]
    record: dict[str, Any]

    def cpu(self) -> float:
        total = 0.0
        for pid in self.pids:
            with contextlib.suppress(OSError):
                total += cpu_s(pid)
        return total


def save_iris(directory: Path) -> tuple[list[float], int]:
    """The model directory; a row and the class the model predicts for it."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from shipyard.models import save_model

    x, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(x, y)
    save_model(model, directory, input_example=x[:2])
    return [float(v) for v in x[0]], int(model.predict(x[:1])[0])


def shadow_counts(url: str) -> dict[str, float]:
    """The shadow gateway's mirrored requests by result, and the dropped ones."""
    out: dict[str, float] = {}
    for kind, labels, value in SHADOW_METRIC.findall(httpx.get(f"{url}/metrics", timeout=10).text):
        result = re.search(r'result="(\w+)"', labels)
        key = result.group(1) if kind == "requests" and result else kind
        out[key] = out.get(key, 0.0) + float(value)
    return out


def load_loads() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def run_cell(
    args: argparse.Namespace, wrk: str, script: Path, c: int, targets: list[Target], progress: Progress, task: Any
) -> list[dict[str, Any]]:
    records = []
    for target in targets:
        target.record = {"target": target.key, "concurrency": c, "loadavg_before": load_loads(), "runs": []}
        if args.warmup:
            warm = loadgen.run_wrk(wrk, loadgen.Load(target.url + PATH, script, c, args.warmup))
            target.record["warmup"] = {k: warm.get(k) for k in ("ok", "rps", "p50_ms", "error")}
    for i in range(args.runs):
        for target in targets[i % len(targets) :] + targets[: i % len(targets)]:
            result = loadgen.run_wrk(wrk, loadgen.Load(target.url + PATH, script, c, args.duration), target.cpu)
            target.record["runs"].append({"run": i + 1, "loadavg_1m_before": load_loads()[0]} | result)
            progress.advance(task)
    for target in targets:
        record = target.record
        record["loadavg_after"] = load_loads()
        record["summary"] = summarize(record["runs"])
        record["ok"] = record["summary"]["ok_runs"] == len(record["runs"]) > 0
        records.append(record)
    return records


def overheads(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for c in sorted({cell["concurrency"] for cell in cells}):
        by = {cell["target"]: cell["summary"] for cell in cells if cell["concurrency"] == c}
        direct = by.get("direct") or {}
        for key in ("gateway", "shadow"):
            through = by.get(key) or {}
            if direct.get("p50_ms") is None or through.get("p50_ms") is None:
                continue
            out.append(
                {
                    "concurrency": c,
                    "target": key,
                    "p50_added_ms": round(through["p50_ms"] - direct["p50_ms"], 3),
                    "p99_added_ms": round(through["p99_ms"] - direct["p99_ms"], 3),
                    "throughput_ratio": round(through["rps"] / direct["rps"], 3) if direct.get("rps") else None,
                }
            )
    return out


def report(results: dict[str, Any]) -> str:
    config = results["config"]
    machine = results["machine"]
    lines = ["# The endpoint gateway's overhead", ""]
    lines.append(
        f"iris (`LogisticRegression`), one V2 row per request, `wrk -t1`, {config['runs']} runs x "
        f"{config['duration_s']} s per cell (medians); {machine['cpu_count']} CPUs ({machine['cpu_model']}), "
        f"Python {machine['python']}, commit {machine['shipyard_commit']}."
    )
    lines += [
        "",
        "| c | target | req/s | p50 ms | p99 ms | p50 added ms | req/s ratio | other CPU |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    added = {(o["concurrency"], o["target"]): o for o in results["overhead"]}
    for cell in results["cells"]:
        s = cell["summary"]
        o = added.get((cell["concurrency"], cell["target"]))
        extra = f"{o['p50_added_ms']:+.2f} | {o['throughput_ratio']:.2f}" if o else "- | -"
        other = "?" if s.get("other_cpu_share") is None else f"{100 * s['other_cpu_share']:.0f} %"
        lines.append(
            f"| {cell['concurrency']} | {TARGETS[cell['target']]} | {s['rps'] or 0:,.0f} | {s['p50_ms'] or 0:.2f} "
            f"| {s['p99_ms'] or 0:.2f} | {extra} | {other} |"
        )
    lines += [
        "",
        "*other CPU*: the share of the machine's CPUs used during a run by processes other than wrk, the "
        "gateway and the model server(s) (median); above ~15 % the run competed with other work.",
    ]
    shadow = results.get("shadow_counts") or {}
    if shadow:
        counted = ", ".join(f"{k} {v:,.0f}" for k, v in sorted(shadow.items()))
        lines += [
            "",
            f"Mirrored requests of the shadow gateway over its runs: {counted} (dropped: beyond "
            "`max_shadow_inflight` (64) copies in flight, so that a slow shadow never holds the caller up).",
        ]
    lines += [
        "",
        f"Load average (1, 5, 15 min) at the start {results['loadavg_at_start']}, at the end "
        f"{results['loadavg_at_end']}. wrk, the gateway and the model server(s) share the machine: at c=16 the "
        "gateway's CPU comes out of the model server's, which is part of what the ratio shows.",
        "",
        f"Reproduce: `{config['command']}`",
    ]
    return "\n".join(lines) + "\n"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.gateway", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per target and cell, median reported")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds per target and cell (0: none)")
    parser.add_argument("--concurrency", default="1,16", help="comma-separated wrk connections")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--no-install-wrk", action="store_true", help="do not apt-get install wrk when missing")
    parser.add_argument("--serve-gateway", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--shadow", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.runs < 1 or args.duration < 1 or args.warmup < 0:
        parser.error("--runs and --duration must be at least 1, --warmup at least 0")
    args.concurrency = [int(c) for c in str(args.concurrency).split(",") if c.strip()]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.serve_gateway:
        return serve_gateway(args.serve_gateway, args.shadow)
    console = Console(log_path=False, width=None if sys.stdout.isatty() else 150)
    wrk = loadgen.find_wrk(console, install=not args.no_install_wrk)
    if wrk is None:
        console.print("[red]wrk is not installed[/red]: `apt-get install -y wrk` and run again.")
        return 2
    machine = machine_info()
    command = "python -m benchmarks.gateway " + " ".join(sys.argv[1:] if argv is None else argv)
    results: dict[str, Any] = {
        "config": {
            "runs": args.runs,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "concurrency": args.concurrency,
            "wrk": f"wrk -t1 -c<C> -d{args.duration}s --latency --timeout {loadgen.WRK_TIMEOUT} -s <post.lua> <url>",
            "wrk_version": loadgen.wrk_version(wrk),
            "command": command.strip(),
        },
        "machine": machine,
        "loadavg_at_start": load_loads(),
    }
    total = len(args.concurrency) * len(TARGETS) * args.runs
    minutes = (total * args.duration + len(args.concurrency) * len(TARGETS) * args.warmup + 40) / 60
    console.rule(f"gateway benchmark: {total} wrk runs, about {minutes:.0f} min")
    work = Path(tempfile.mkdtemp(prefix="shipyard-bench-gateway-"))
    try:
        row, expected = save_iris(work / ENDPOINT)
        body = loadgen.request_body("v2", [row])
        script = loadgen.write_script(work / "wrk", "iris-v2-1", body)
        with contextlib.ExitStack() as stack:
            model_url, model_proc, _ = stack.enter_context(server(work / ENDPOINT))
            shadow_url, shadow_proc, _ = stack.enter_context(server(work / ENDPOINT))
            console.log(f"model servers at {model_url} and {shadow_url} (shadow)")
            gateway_url, gateway_proc = stack.enter_context(gateway_process(model_url))
            mirror_url, mirror_proc = stack.enter_context(gateway_process(model_url, shadow_url))
            console.log(f"gateways at {gateway_url} and {mirror_url} (with the shadow)")
            model_pids = [model_proc.pid, *children(model_proc.pid)]
            targets = [
                Target("direct", model_url, model_pids, {}),
                Target("gateway", gateway_url, [*model_pids, gateway_proc.pid], {}),
                Target("shadow", mirror_url, [*model_pids, mirror_proc.pid, shadow_proc.pid], {}),
            ]
            for target in targets:
                if problem := loadgen.verify(target.url + PATH, "v2", body, [expected]):
                    raise RuntimeError(f"{target.key}: {problem}")
            cells: list[dict[str, Any]] = []
            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            with Progress(*columns, console=console) as progress:
                task = progress.add_task("wrk runs", total=total)
                for c in args.concurrency:
                    for record in run_cell(args, wrk, script, c, targets, progress, task):
                        cells.append(record)
                        s = record["summary"]
                        console.log(
                            f"c={c:<3} {TARGETS[record['target']]:28} {s['rps'] or 0:>8,.0f} req/s  "
                            f"p50 {s['p50_ms'] or 0:6.2f} ms  p99 {s['p99_ms'] or 0:6.2f} ms"
                            + ("" if record["ok"] else "  [red](errors)[/red]")
                        )
            results["shadow_counts"] = shadow_counts(mirror_url)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["loadavg_at_end"] = load_loads()
    results["cells"] = cells
    results["overhead"] = overheads(cells)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{NAME}.json").write_text(json.dumps(results, indent=2) + "\n")
    text = report(results)
    (args.out / f"{NAME}.md").write_text(text)
    console.print(text)
    return 0 if all(cell["ok"] for cell in cells) else 1


if __name__ == "__main__":
    sys.exit(main())
