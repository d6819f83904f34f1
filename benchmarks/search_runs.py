"""Benchmark ``search_runs`` over 100,000 runs x 10 metrics, on PostgreSQL and SQLite.

    .venv/bin/python -m benchmarks.search_runs [--runs 100000] [--reps 30] [--only postgresql|sqlite]

PostgreSQL: ``SHIPYARD_BENCH_POSTGRES`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``) names a server where a fresh
``shipyard_bench_<random>`` database is created, migrated, loaded with ``COPY``,
analysed, measured and dropped. SQLite: a file database in the temp directory, loaded
with ``executemany`` in one transaction, then deleted.

Each query goes through ``search_runs`` exactly as a request would (a read-only session,
ORM objects built for the page), ``--reps`` times after a warm-up; p50/p95 are reported.
Results: ``benchmarks/results/search_runs.json`` (machine, row counts, timings, plans)
and ``benchmarks/results/search_runs.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import event

from shipyard.store.engine import Database
from shipyard.store.schema import upgrade
from shipyard.tracking.search import search_runs
from shipyard.tracking.search.sql import install_sqlite_functions

PROJECT = "00000000000000000000000000000000"
RESULTS = Path(__file__).parent / "results"
DEFAULT_DSN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TARGET_P50_MS = 100.0
T0 = datetime(2024, 1, 1, tzinfo=UTC)
N_METRICS = 10
N_EXPERIMENTS = 4
LRS = ("0.1", "0.01", "0.001", "0.0001")
BATCHES = ("32", "64", "128")
MODELS = ("resnet18", "resnet50", "vit-b16", "convnext-t", "efficientnet-b0")
TEAMS = tuple(f"team-{i}" for i in range(10))
USERS = tuple(f"user-{i}" for i in range(20))
STATUSES = ("FINISHED",) * 16 + ("FAILED", "FAILED", "KILLED", "RUNNING")

console = Console()

# name -> search_runs arguments (the page token, if any, is added at run time)
QUERIES: dict[str, dict[str, Any]] = {
    "filtered_ordered_first_page": {
        "filter": "metrics.m0 > 0.9 and params.lr = '0.01'",
        "order_by": ["metrics.m1 DESC"],
    },
    "unfiltered_first_page": {"filter": None, "order_by": None},
    "tag_filter_first_page": {"filter": "tags.team = 'team-3'", "order_by": None},
    "or_filter_first_page": {
        "filter": "metrics.m2 > 0.99 OR tags.team = 'team-7' AND params.model = 'vit-b16'",
        "order_by": None,
    },
    "filtered_ordered_page_5": {
        "filter": "metrics.m0 > 0.9 and params.lr = '0.01'",
        "order_by": ["metrics.m1 DESC"],
        "page": 5,
    },
    "unfiltered_page_5": {"filter": None, "order_by": None, "page": 5},
    # informational: shapes beyond the brief
    "negated_tag_filter_first_page": {"filter": "tags.team != 'team-1'", "order_by": None},
    "like_filter_first_page": {"filter": "params.model LIKE 'resnet%' AND metrics.m3 < 0.05", "order_by": None},
    "unfiltered_metric_order_first_page": {"filter": None, "order_by": ["metrics.m1 DESC"]},
    "experiment_scoped_first_page": {"filter": "metrics.m4 > 0.5", "order_by": None, "experiments": [2]},
}
PAGE_SIZE = 100

# The indexes the searches lean on, as the migrations create them.
INDEXES = {
    "ix_latest_metrics_key_value_run": "latest_metrics (key, value, run_id): covering",
    "ix_params_key_run": "params (key, run_id)",
    "ix_run_tags_key_run": "run_tags (key, run_id)",
}


# -- data ------------------------------------------------------------------------------


def generate(n_runs: int, experiment_ids: list[int]) -> dict[str, list[tuple[Any, ...]]]:
    """Deterministic rows for every table, as tuples in COPY column order."""
    rng = random.Random(42)
    runs: list[tuple[Any, ...]] = []
    metrics: list[tuple[Any, ...]] = []
    params: list[tuple[Any, ...]] = []
    tags: list[tuple[Any, ...]] = []
    for i in range(n_runs):
        run_id = uuid.UUID(int=rng.getrandbits(128), version=4).hex
        start = T0 + timedelta(seconds=i * 30 + rng.randrange(30))
        status = rng.choice(STATUSES)
        end = None if status == "RUNNING" else start + timedelta(seconds=rng.randrange(60, 7200))
        stage = "deleted" if rng.random() < 0.05 else "active"
        user = rng.choice(USERS)
        exp = experiment_ids[i % len(experiment_ids)]
        runs.append((run_id, PROJECT, exp, f"run-{i}", status, user, start, end, stage, start, "{}"))
        for k in range(N_METRICS):
            value = None if rng.random() < 0.005 else rng.random()  # 0.5% NaN, stored as NULL
            metrics.append((run_id, f"m{k}", value, 100, 1_700_000_000_000 + i))
        params.append((run_id, "lr", rng.choice(LRS)))
        params.append((run_id, "batch_size", rng.choice(BATCHES)))
        params.append((run_id, "model", rng.choice(MODELS)))
        tags.append((run_id, "team", rng.choice(TEAMS)))
        tags.append((run_id, "mlflow.user", user))
    return {"runs": runs, "latest_metrics": metrics, "params": params, "run_tags": tags}


COLUMNS = {
    "runs": "id, project_id, experiment_id, name, status, user_id, start_time, end_time, lifecycle_stage, "
    "updated_at, source",
    "latest_metrics": "run_id, key, value, step, timestamp_ms",
    "params": "run_id, key, value",
    "run_tags": "run_id, key, value",
}


def progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def load_postgresql(dsn: str, data: dict[str, list[tuple[Any, ...]]]) -> None:
    with psycopg.connect(dsn) as conn, conn.cursor() as cur, progress() as bar:
        for table, rows in data.items():
            task = bar.add_task(f"COPY {table}", total=len(rows))
            with cur.copy(f"COPY {table} ({COLUMNS[table]}) FROM STDIN") as copy:
                for start in range(0, len(rows), 20_000):
                    for row in rows[start : start + 20_000]:
                        copy.write_row(row)
                    bar.advance(task, len(rows[start : start + 20_000]))
        conn.commit()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def _sqlite_time(moment: datetime | None) -> str | None:
    # SQLAlchemy's SQLite DateTime storage format, naive UTC (see shipyard.store.base.TZDateTime)
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def load_sqlite(path: Path, data: dict[str, list[tuple[Any, ...]]]) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN")
        with progress() as bar:
            for table, rows in data.items():
                task = bar.add_task(f"INSERT {table}", total=len(rows))
                width = len(COLUMNS[table].split(","))
                sql = f"INSERT INTO {table} ({COLUMNS[table]}) VALUES ({', '.join('?' * width)})"
                for start in range(0, len(rows), 20_000):
                    chunk = rows[start : start + 20_000]
                    if table == "runs":
                        chunk = [(*r[:6], *map(_sqlite_time, r[6:8]), r[8], _sqlite_time(r[9]), r[10]) for r in chunk]
                    conn.executemany(sql, chunk)
                    bar.advance(task, len(chunk))
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    finally:
        conn.close()


# -- measuring -------------------------------------------------------------------------


@contextmanager
def captured_statements(db: Database) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if "FROM runs" in statement:
            seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)


def run_query(db: Database, spec: dict[str, Any], token: str | None) -> tuple[int, str | None]:
    with db.session(readonly=True) as session:
        page = search_runs(
            session,
            project_id=PROJECT,
            experiment_ids=spec.get("experiments"),
            filter=spec["filter"],
            order_by=spec["order_by"],
            page_token=token,
            page_size=PAGE_SIZE,
        )
        return len(page.items), page.next_page_token


def token_for(db: Database, spec: dict[str, Any]) -> str | None:
    token = None
    for _ in range(spec.get("page", 1) - 1):
        _, token = run_query(db, spec, token)
        assert token is not None, "not enough rows for that page"
    return token


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def measure(db: Database, reps: int, label: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    with progress() as bar:
        task = bar.add_task(f"{db.dialect}, {label}", total=len(QUERIES))
        for name, spec in QUERIES.items():
            token = token_for(db, spec)
            for _ in range(3):  # warm caches and SQLAlchemy's statement cache
                rows, _ = run_query(db, spec, token)
            timings: list[float] = []
            for _ in range(reps):
                started = time.perf_counter()
                run_query(db, spec, token)
                timings.append((time.perf_counter() - started) * 1000)
            out[name] = {
                "filter": spec["filter"],
                "order_by": spec["order_by"],
                "page": spec.get("page", 1),
                "experiment_ids": spec.get("experiments"),
                "rows_returned": rows,
                "reps": reps,
                "p50_ms": round(statistics.median(timings), 2),
                "p95_ms": round(percentile(timings, 0.95), 2),
                "min_ms": round(min(timings), 2),
                "max_ms": round(max(timings), 2),
                "plan": explain(db, spec, token),
            }
            bar.advance(task)
    return out


def explain(db: Database, spec: dict[str, Any], token: str | None) -> list[str]:
    with captured_statements(db) as seen:
        run_query(db, spec, token)
    statement, parameters = seen[-1]
    with db.session(readonly=True) as session:
        conn = session.connection()
        if db.dialect == "postgresql":
            result = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            return [row[0] for row in result]
        install_sqlite_functions(conn.connection.driver_connection)
        result = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        return [f"{row[0]}|{row[1]}| {row[3]}" for row in result]


# -- backends --------------------------------------------------------------------------


def make_experiments(db: Database) -> list[int]:
    from shipyard.tracking.tables import Experiment

    with db.session() as session:
        exps = [Experiment(project_id=PROJECT, name=f"bench-{i}") for i in range(N_EXPERIMENTS)]
        session.add_all(exps)
        session.flush()
        return [e.id for e in exps]


def row_counts(data: dict[str, list[tuple[Any, ...]]]) -> dict[str, int]:
    return {table: len(rows) for table, rows in data.items()}


def bench_postgresql(n_runs: int, reps: int) -> dict[str, Any]:
    admin = os.environ.get("SHIPYARD_BENCH_POSTGRES", DEFAULT_DSN)
    plain = admin.replace("postgresql+psycopg://", "postgresql://", 1)
    name = f"shipyard_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        version = conn.execute("SHOW server_version").fetchone()
        work_mem = conn.execute("SHOW work_mem").fetchone()
        shared_buffers = conn.execute("SHOW shared_buffers").fetchone()
    base = plain.rsplit("/", 1)[0]
    url = f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"
    db = Database(url)
    try:
        console.print(f"[bold]PostgreSQL[/] {name}: migrating")
        upgrade(db)
        experiments = make_experiments(db)
        data = generate(n_runs, experiments)
        started = time.perf_counter()
        load_postgresql(f"{base}/{name}", data)
        load_seconds = time.perf_counter() - started
        return {
            "server_version": version[0] if version else None,
            "settings": {
                "work_mem": work_mem[0] if work_mem else None,
                "shared_buffers": shared_buffers[0] if shared_buffers else None,
            },
            "rows": row_counts(data),
            "load_seconds": round(load_seconds, 1),
            "queries": measure(db, reps, "as migrated"),
        }
    finally:
        db.dispose()
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bench_sqlite(n_runs: int, reps: int) -> dict[str, Any]:
    path = Path(tempfile.gettempdir()) / f"shipyard_bench_{uuid.uuid4().hex[:8]}.db"
    db = Database(f"sqlite:///{path}")
    try:
        console.print(f"[bold]SQLite[/] {path}: migrating")
        upgrade(db)
        experiments = make_experiments(db)
        data = generate(n_runs, experiments)
        db.dispose()
        started = time.perf_counter()
        load_sqlite(path, data)
        load_seconds = time.perf_counter() - started
        size_mb = round(path.stat().st_size / 1e6, 1)
        return {
            "sqlite_version": sqlite3.sqlite_version,
            "rows": row_counts(data),
            "load_seconds": round(load_seconds, 1),
            "file_mb": size_mb,
            "queries": measure(db, reps, "as migrated"),
        }
    finally:
        db.dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def machine() -> dict[str, Any]:
    cpu = ""
    memory_gb = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "cpu": cpu or platform.processor(),
        "cpus": os.cpu_count(),
        "memory_gb": memory_gb,
        "python": platform.python_version(),
        "sqlalchemy": sqlalchemy.__version__,
        "psycopg": psycopg.__version__,
    }


# -- report ----------------------------------------------------------------------------


def write_results(results: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "search_runs.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (RESULTS / "search_runs.md").write_text(markdown(results))


def markdown(results: dict[str, Any]) -> str:
    rows = results.get("postgresql", results.get("sqlite", {})).get("rows", {})
    m = results["machine"]
    lines = [
        "# search_runs benchmark",
        "",
        f"{rows.get('runs', 0):,} runs x {N_METRICS} metrics ({rows.get('latest_metrics', 0):,} latest metrics, "
        f"{rows.get('params', 0):,} params, {rows.get('run_tags', 0):,} tags); page size {PAGE_SIZE}; "
        f"p50/p95 over {results['reps']} repetitions after a warm-up, through `search_runs` "
        "(read-only session, ORM rows). Target: filtered + ordered first page p50 < "
        f"{TARGET_P50_MS:.0f} ms on PostgreSQL.",
        "",
        f"Machine: {m['cpu']}, {m['cpus']} CPUs, {m['memory_gb']} GB; Python {m['python']}; "
        f"PostgreSQL {results.get('postgresql', {}).get('server_version', '-')} "
        f"(shared_buffers {results.get('postgresql', {}).get('settings', {}).get('shared_buffers', '-')}, "
        f"work_mem {results.get('postgresql', {}).get('settings', {}).get('work_mem', '-')}); "
        f"SQLite {results.get('sqlite', {}).get('sqlite_version', '-')}. Generated {results['generated_at']}.",
        "",
    ]
    for section, title in (("queries", "Schema as migrated"),):
        pg = results.get("postgresql", {}).get(section, {})
        lite = results.get("sqlite", {}).get(section, {})
        lines += [
            f"## {title}",
            "",
            "| query | PostgreSQL p50 | PostgreSQL p95 | SQLite p50 | SQLite p95 | rows |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, spec in QUERIES.items():
            a, b = pg.get(name, {}), lite.get(name, {})
            what = spec["filter"] or "(no filter)"
            order = ", ".join(spec["order_by"] or ["start_time DESC"])
            label = f"`{name}`: {what}; order {order}"
            if spec.get("page"):
                label += f"; page {spec['page']}"
            if spec.get("experiments"):
                label += "; one experiment"
            lines.append(
                f"| {label} | {_ms(a, 'p50_ms')} | {_ms(a, 'p95_ms')} | {_ms(b, 'p50_ms')} | {_ms(b, 'p95_ms')} "
                f"| {a.get('rows_returned', b.get('rows_returned', '-'))} |"
            )
        lines.append("")
    lines.append("Indexes used: " + "; ".join(f"`{name}` on {target}" for name, target in INDEXES.items()) + ".")
    for backend in ("postgresql", "sqlite"):
        if backend in results:
            lines.append("")
            lines.append(f"{backend} load: {results[backend]['load_seconds']} s")
    lines.append("")
    lines.append("Every plan is in `search_runs.json` (`<backend>.<section>.<name>.plan`). The ones that mattered:")
    for section, title in (("queries", "as migrated"),):
        entry = results.get("postgresql", {}).get(section, {}).get("filtered_ordered_first_page")
        if entry is None:
            continue
        lines += ["", f"PostgreSQL, `filtered_ordered_first_page`, {title}:", "", "```"]
        lines += [line for line in entry["plan"] if not line.strip().startswith(("Buffers:", "Planning:"))]
        lines += ["```"]
    return "\n".join(lines) + "\n"


def _ms(entry: dict[str, Any], key: str) -> str:
    return f"{entry[key]:.1f} ms" if key in entry else "-"


def show(results: dict[str, Any]) -> None:
    table = Table(title="search_runs p50 / p95 (ms)")
    table.add_column("query")
    columns = [
        (backend, section, f"{'pg' if backend == 'postgresql' else 'sqlite'}{'' if section == 'queries' else ' +idx'}")
        for backend in ("postgresql", "sqlite")
        if backend in results
        for section in ("queries",)
    ]
    for _, _, title in columns:
        table.add_column(title, justify="right")
    for name in QUERIES:
        cells = [name]
        for backend, section, _ in columns:
            entry = results[backend][section][name]
            cells.append(f"{entry['p50_ms']:.1f} / {entry['p95_ms']:.1f}")
        table.add_row(*cells)
    console.print(table)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--only", choices=("postgresql", "sqlite"))
    args = parser.parse_args(argv)
    backends: dict[str, Callable[[int, int], dict[str, Any]]] = {
        "postgresql": bench_postgresql,
        "sqlite": bench_sqlite,
    }
    path = RESULTS / "search_runs.json"
    results: dict[str, Any] = json.loads(path.read_text()) if args.only and path.exists() else {}
    results.update(
        {
            "machine": machine(),
            "reps": args.reps,
            "page_size": PAGE_SIZE,
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )
    for name, bench in backends.items():
        if args.only in (None, name):
            results[name] = bench(args.runs, args.reps)
    write_results(results)
    show(results)
    for section in ("queries",):
        pg = results.get("postgresql", {}).get(section, {}).get("filtered_ordered_first_page")
        if pg is not None:
            verdict = "meets" if pg["p50_ms"] < TARGET_P50_MS else "MISSES"
            console.print(
                f"PostgreSQL {section}: filtered + ordered first page p50 {pg['p50_ms']} ms {verdict} the target"
            )


if __name__ == "__main__":
    main()
