"""Drift detection at 1,000,000 x 20: Shipyard's engine against Evidently's DataDriftPreset.

    .venv/bin/python -m benchmarks.monitoring [--rows 1000000] [--skip-evidently] [--out DIR]
        [--evidently-venv /tmp/shipyard-bench-venvs/evidently]

Data: reference and current windows of ``--rows`` rows x 20 columns (14 float, 6 string
categories), generated once with a fixed seed and written to Parquet in a temporary
directory; the current window has drift injected in 4 numeric and 2 categorical columns
(a table in the results). Every run is a fresh child process reading those files:

- **timed** (the headline): Shipyard ``arrow`` (``pyarrow.parquet.read_table`` then
  ``detect_drift`` on the Arrow tables), Shipyard ``dataframe`` (``pandas.read_parquet`` then
  ``detect_drift``: the same input Evidently gets), Shipyard ``parquet``
  (``detect_drift_parquet``: one column at a time), Shipyard ``stream``
  (``profile_batches`` sketches over 64k-row batches), and Evidently 0.7
  ``Report([DataDriftPreset()])`` on ``Dataset.from_pandas`` of the same files with the
  column types declared. Wall time and peak RSS (``ru_maxrss``) are measured in each
  child; the process wall includes interpreter start and imports.
- **agreement**: per-column drift decisions of both engines at the same methods and
  thresholds: the full windows with the automatic choice (normed Wasserstein /
  Jensen-Shannon), the first 800 rows (KS / chi-squared / z-test) and the first 100,000
  rows with each method forced (ks+chisquare, psi+psi with Evidently's Sturges binning,
  jensenshannon+jensenshannon).

Evidently is installed into a throwaway venv outside the repository (created with
``python3 -m uv venv`` and ``uv pip install "evidently==0.7.*" "pandas<3" pyarrow`` when
missing; Evidently 0.7 does not import with pandas 3). Results:
``benchmarks/results/monitoring.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent
RESULTS = ROOT / "benchmarks" / "results"
PEER_REQUIREMENTS = ("evidently==0.7.*", "pandas<3", "pyarrow")
DEFAULT_VENV = Path(tempfile.gettempdir()) / "shipyard-bench-venvs" / "evidently"
NUMERIC = [f"num_{i:02d}" for i in range(14)]
CATEGORICAL = [f"cat_{i}" for i in range(6)]
SEED = 20260101
INJECTED = {
    "num_00": "mean +0.2 sd",
    "num_01": "mean +0.5 sd",
    "num_02": "scale x1.5",
    "num_03": "10% of values replaced by a second mode at +4 sd",
    "cat_0": "new category 'zz' on 15% of rows",
    "cat_1": "category shares reversed",
}
AGREEMENT_RUNS: list[dict[str, Any]] = [
    {"name": "full, automatic (wasserstein / jensenshannon)", "rows": None, "methods": (None, None)},
    {"name": "800 rows, automatic (ks / chisquare / z)", "rows": 800, "methods": (None, None)},
    {"name": "800 rows, automatic, chi-squared as goodness of fit", "rows": 800, "methods": (None, None), "gof": True},
    {"name": "100k rows, ks + chisquare", "rows": 100_000, "methods": ("ks", "chisquare")},
    {
        "name": "100k rows, ks + chisquare as goodness of fit",
        "rows": 100_000,
        "methods": ("ks", "chisquare"),
        "gof": True,
    },
    {"name": "100k rows, psi + psi", "rows": 100_000, "methods": ("psi", "psi")},
    {
        "name": "100k rows, jensenshannon + jensenshannon",
        "rows": 100_000,
        "methods": ("jensenshannon", "jensenshannon"),
    },
]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def generate(rows: int, directory: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(SEED)
    cats = [np.array([f"{c}{k}" for k in range(n)]) for c, n in zip("abcdef", (8, 5, 12, 2, 4, 30), strict=True)]

    def window(current: bool) -> pa.Table:
        data: dict[str, Any] = {}
        for i, name in enumerate(NUMERIC):
            kind = i % 3
            if kind == 0:
                values = rng.normal(10 * i, 1 + i, rows)
            elif kind == 1:
                values = rng.lognormal(1, 0.5, rows) * (i + 1)
            else:
                values = rng.uniform(-i, 3 * i + 1, rows)
            if current and name in INJECTED:
                sd = float(values.std())
                if name == "num_00":
                    values = values + 0.2 * sd
                elif name == "num_01":
                    values = values + 0.5 * sd
                elif name == "num_02":
                    values = values.mean() + (values - values.mean()) * 1.5
                else:
                    mode = rng.random(rows) < 0.1
                    values[mode] = values.mean() + 4 * sd + rng.normal(0, sd / 4, int(mode.sum()))
            data[name] = values
        for name, levels in zip(CATEGORICAL, cats, strict=True):
            weights = np.linspace(1, 2, len(levels))
            if current and name == "cat_1":
                weights = weights[::-1]
            values = rng.choice(levels, rows, p=weights / weights.sum()).astype(object)
            if current and name == "cat_0":
                values[rng.random(rows) < 0.15] = "zz"
            data[name] = pa.array(values, type=pa.string())
        return pa.table(data)

    ref_path, cur_path = directory / "reference.parquet", directory / "current.parquet"
    pq.write_table(window(False), ref_path)
    pq.write_table(window(True), cur_path)
    return ref_path, cur_path


def ensure_evidently(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        log(f"creating {venv} (evidently 0.7, pandas<3)")
        subprocess.run([sys.executable, "-m", "uv", "venv", "-q", "-p", sys.executable, str(venv)], check=True)
        subprocess.run(
            [sys.executable, "-m", "uv", "pip", "install", "-q", "--python", str(python), *PEER_REQUIREMENTS],
            check=True,
        )
    return python


def child(command: list[str]) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{command[:3]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = wall
    return result


def shipyard_run(
    mode: str, ref: Path, cur: Path, methods: tuple[str | None, str | None], rows: int | None, gof: bool = False
) -> Any:
    spec: dict[str, Any] = {"kinds": dict.fromkeys(CATEGORICAL, "categorical") | dict.fromkeys(NUMERIC, "numeric")}
    if gof:
        spec["chisquare_test"] = "goodness_of_fit"
    if methods[0]:
        spec["numeric_method"] = methods[0]
    if methods[1]:
        spec["categorical_method"] = methods[1]
    if "psi" in methods:
        spec["psi_binning"] = "sturges"  # Evidently's PSI binning, for a like-for-like decision
    command = [sys.executable, str(HERE / "shipyard_child.py"), mode, str(ref), str(cur), json.dumps(spec)]
    if rows:
        command.append(str(rows))
    return child(command)


def evidently_run(python: Path, ref: Path, cur: Path, methods: tuple[str | None, str | None], rows: int | None) -> Any:
    config = {
        "numerical": NUMERIC,
        "categorical": CATEGORICAL,
        "rows": rows,
        "num_method": methods[0],
        "cat_method": methods[1],
    }
    return child([str(python), str(HERE / "evidently_child.py"), str(ref), str(cur), json.dumps(config)])


def agreement(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for column, mine in ours["columns"].items():
        other = theirs["columns"][column]
        rows.append(
            {
                "column": column,
                "shipyard": mine,
                "evidently": other,
                "same_method": mine["method"] == other["method"],
                "same_decision": mine["drifted"] == other["drifted"],
                "abs_diff": abs(mine["statistic"] - other["statistic"]),
            }
        )
    same = sum(r["same_decision"] for r in rows)
    return {
        "columns": rows,
        "agree": same,
        "total": len(rows),
        "agreement": same / len(rows),
        "same_methods": all(r["same_method"] for r in rows),
        "max_abs_statistic_diff": max(r["abs_diff"] for r in rows),
    }


def machine() -> dict[str, Any]:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {p: importlib.metadata.version(p) for p in ("numpy", "scipy", "pandas", "pyarrow")}
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def render(result: dict[str, Any]) -> str:
    timed = result["timed"]
    ev = timed.get("evidently")
    lines = [
        "# monitoring benchmark: drift at scale, Shipyard vs Evidently",
        "",
        f"Command: `{result['command']}`. {result['rows']:,} rows x 20 columns (14 float, 6 string categories) in each "
        "of reference and current, from Parquet; each run a fresh process.",
        f"Machine: {result['machine']['cpu']} ({result['machine']['cpus']} CPUs, shared), Python "
        f"{result['machine']['python']}; load average (1 min) {result['loadavg_before']} before, "
        f"{result['loadavg_after']} after.",
        "",
        "## Wall time and peak memory",
        "",
        "| run | process wall s | read s | compute s | peak RSS MiB | speed-up vs Evidently "
        "(process wall / compute) | memory vs Evidently |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, run in timed.items():
        speed = (
            f"{ev['process_wall_s'] / run['process_wall_s']:.1f}x / {ev['compute_s'] / run['compute_s']:.0f}x"
            if ev
            else "-"
        )
        memory = f"{run['peak_rss_mib'] / ev['peak_rss_mib']:.2f}" if ev else "-"
        lines.append(
            f"| {name} | {run['process_wall_s']:.1f} | {run['load_s']:.1f} | {run['compute_s']:.1f} | "
            f"{run['peak_rss_mib']:.0f} | {speed} | {memory} |"
        )
    if ev:
        lines += [
            "",
            f"Evidently {ev.get('evidently')} (pandas {ev.get('pandas')}) in a throwaway venv; Shipyard with numpy "
            f"{result['machine']['versions']['numpy']}, scipy {result['machine']['versions']['scipy']}, pandas "
            f"{result['machine']['versions']['pandas']}, pyarrow {result['machine']['versions']['pyarrow']}.",
            "Targets (issue 7): at least 20x faster and at most a third of Evidently's peak memory. "
            "Process wall = interpreter start, imports, reading both Parquet files and the drift computation; "
            "compute = the drift computation alone (for `parquet` and `stream` it includes reading, which is "
            "interleaved with it).",
        ]
    lines += ["", "## Injected drift", "", "| column | change |", "|---|---|"]
    lines += [f"| {c} | {what} |" for c, what in INJECTED.items()]
    lines += ["", "All other columns are drawn from the same distribution in both windows.", ""]
    if result.get("agreement"):
        lines += [
            "## Agreement of drift decisions (same methods, same thresholds)",
            "",
            "| comparison | same methods | decisions agree | max abs statistic diff | drifted (Shipyard) |",
            "|---|---|---:|---:|---|",
        ]
        for name, agree in result["agreement"].items():
            drifted = ", ".join(r["column"] for r in agree["columns"] if r["shipyard"]["drifted"])
            lines.append(
                f"| {name} | {'yes' if agree['same_methods'] else 'no'} | {agree['agree']}/{agree['total']} "
                f"({agree['agreement']:.0%}) | {agree['max_abs_statistic_diff']:.2g} | {drifted} |"
            )
        lines += [
            "",
            "Known differences by design (docs/monitoring.md): Shipyard's chi-squared is by default the two-sample "
            "test of homogeneity, Evidently's a goodness-of-fit test against the reference shares taken as exact, "
            "which rejects more often on clean columns (the reference is a sample too); "
            '`DriftSpec(chisquare_test="goodness_of_fit")` reproduces Evidently\'s (the rows marked so). Evidently '
            "fills empty PSI bins with 1e-4 or min/1e6, Shipyard with `psi_epsilon` (1e-4).",
            "",
        ]
        disagreements = [
            (name, r) for name, agree in result["agreement"].items() for r in agree["columns"] if not r["same_decision"]
        ]
        if disagreements:
            lines += ["Disagreements:", ""]
            for name, r in disagreements:
                lines.append(
                    f"- {name}, {r['column']}: Shipyard {r['shipyard']['method']} {r['shipyard']['statistic']:.4g} "
                    f"(drift {r['shipyard']['drifted']}), Evidently {r['evidently']['method']} "
                    f"{r['evidently']['statistic']:.4g} (drift {r['evidently']['drifted']})"
                )
            lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.monitoring", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--evidently-venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--skip-agreement", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    command = "python -m benchmarks.monitoring" + (" " + " ".join(argv) if argv else "")
    result: dict[str, Any] = {
        "command": command,
        "rows": args.rows,
        "machine": machine(),
        "loadavg_before": round(os.getloadavg()[0], 2),
        "injected": INJECTED,
        "timed": {},
        "agreement": {},
    }
    python = None if args.skip_evidently else ensure_evidently(args.evidently_venv)
    with tempfile.TemporaryDirectory(prefix="shipyard-monitoring-bench-") as tmp:
        log(f"generating {args.rows:,} x 20 reference and current windows")
        ref, cur = generate(args.rows, Path(tmp))
        for mode in ("arrow", "dataframe", "parquet", "stream"):
            log(f"shipyard {mode}")
            result["timed"][f"Shipyard {mode}"] = shipyard_run(mode, ref, cur, (None, None), None)
        if python is not None:
            log("evidently DataDriftPreset (minutes)")
            result["timed"]["evidently"] = evidently_run(python, ref, cur, (None, None), None)
            if not args.skip_agreement:
                evidently_cache: dict[Any, Any] = {}
                for run in AGREEMENT_RUNS:
                    log(f"agreement: {run['name']}")
                    if run["rows"] is None:
                        ours, theirs = result["timed"]["Shipyard dataframe"], result["timed"]["evidently"]
                    else:
                        ours = shipyard_run("dataframe", ref, cur, run["methods"], run["rows"], run.get("gof", False))
                        key = (run["rows"], run["methods"])
                        if key not in evidently_cache:
                            evidently_cache[key] = evidently_run(python, ref, cur, run["methods"], run["rows"])
                        theirs = evidently_cache[key]
                    result["agreement"][run["name"]] = agreement(ours, theirs)
    result["loadavg_after"] = round(os.getloadavg()[0], 2)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "monitoring.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    (args.out / "monitoring.md").write_text(render(result) + "\n")
    print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
