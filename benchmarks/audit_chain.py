"""The audit chain's cost on writes, and verification speed, on SQLite and PostgreSQL.

    .venv/bin/python -m benchmarks.audit_chain [--writes 2000] [--entries 100000]
        [--only sqlite|postgresql]

Append cost: ``--writes`` units of work, each looking up a project and recording one
event through :func:`shipyard.events.service.record` and committing, timed one by one,
alternating in blocks of 100 between the real commit-time appender and the pre-audit
path (the event inserted as is, no head lock, no hashing). Also: the time spent inside
the appender's ``before_commit`` hook, and 8 threads appending concurrently.

Verification: a fresh database loaded with ``--entries`` chained entries (plus a signed
checkpoint every 100), then verified four ways: on the server's side
(:func:`shipyard.audit.service.verify`, one snapshot), by the SDK over the API in local
mode (``shipyard audit verify``), by writing an export (``shipyard audit export``) and by
verifying that file offline (``shipyard audit verify-export``). Peak Python memory of the
server-side walk is measured separately with ``tracemalloc``.

PostgreSQL: ``SHIPYARD_BENCH_POSTGRES`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``), a fresh database per run, dropped
afterwards. Results: ``benchmarks/results/audit_chain.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console
from sqlalchemy import insert
from sqlalchemy.orm import Session

from shipyard.audit import append
from shipyard.audit import service as audit
from shipyard.audit.chain import GENESIS, EntryFields, change_digest, entry_hash
from shipyard.audit.checkpoints import Notary, payload
from shipyard.audit.export import verify_export
from shipyard.audit.head import Head, lock_head, save_head
from shipyard.audit.tables import AuditCheckpoint
from shipyard.client import Client
from shipyard.events import service as events
from shipyard.events.context import Actor
from shipyard.events.tables import Event
from shipyard.projects import service as projects
from shipyard.projects.tables import DEFAULT_PROJECT
from shipyard.settings import Settings, load_settings
from shipyard.store.engine import Database
from shipyard.store.schema import upgrade

RESULTS = Path(__file__).parent / "results"
DEFAULT_DSN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ACTOR = Actor("bench", request_id="bench-request", source="127.0.0.1")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
console = Console(stderr=True)
_PLAIN_SEQ = itertools.count(10**12)  # seq values for pre-audit rows, far from the real chain


@contextmanager
def fresh(kind: str, home: Path) -> Iterator[Settings]:
    """Settings for a new, migrated database of ``kind`` (dropped afterwards)."""
    if kind == "sqlite":
        url = f"sqlite:///{home / 'shipyard.db'}"
        drop: Callable[[], None] = lambda: None  # noqa: E731
    else:
        admin = os.environ.get("SHIPYARD_BENCH_POSTGRES", DEFAULT_DSN).replace("postgresql+psycopg://", "postgresql://")
        name = f"shipyard_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"{admin.rsplit('/', 1)[0].replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"

        def drop() -> None:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    settings = load_settings(
        {"home": str(home), "database.url": url, "logging.level": "WARNING", "audit.checkpoint_interval": 100}
    ).settings
    db = Database(url, settings.database)
    upgrade(db)
    db.dispose()
    try:
        yield settings
    finally:
        drop()


# -- append cost -----------------------------------------------------------------------------
def one_write(db: Database, i: int) -> float:
    started = time.perf_counter()
    with db.session() as session:
        project = projects.get_by_name(session, DEFAULT_PROJECT)
        events.record(
            session,
            ACTOR,
            "bench.write",
            project_id=project.id,
            object_type="thing",
            object_id=str(i),
            details={"i": i},
        )
    return time.perf_counter() - started


@contextmanager
def pre_audit_path() -> Iterator[None]:
    """What record() did before the chain: add the event to the session, nothing else."""
    original = append.stage

    def plain(session: Session, entry: Event) -> None:
        entry.seq = next(_PLAIN_SEQ)
        entry.change_digest = entry.prev_hash = entry.hash = "-"
        session.add(entry)

    append.stage = plain  # type: ignore[assignment]
    try:
        yield
    finally:
        append.stage = original


@contextmanager
def hook_timer() -> Iterator[list[float]]:
    spent: list[float] = []
    original = append._chain

    def timed(session: Session) -> None:
        started = time.perf_counter()
        original(session)
        spent.append(time.perf_counter() - started)

    append._chain = timed
    try:
        yield spent
    finally:
        append._chain = original


def append_cost(settings: Settings, writes: int) -> dict[str, Any]:
    db = Database(settings.database_url, settings.database)
    audit.attach(db, settings)
    chained: list[float] = []
    plain: list[float] = []
    try:
        for i in range(20):  # warm-up
            one_write(db, i)
        with hook_timer() as hook:
            for block in range(writes // 200):
                for i in range(100):
                    chained.append(one_write(db, block * 100 + i))
                with pre_audit_path():
                    for i in range(100):
                        plain.append(one_write(db, block * 100 + i))
        per_thread = max(writes // 16, 25)
        concurrent = concurrent_appends(db, threads=8, per_thread=per_thread)
        with pre_audit_path():
            concurrent_plain = concurrent_appends(db, threads=8, per_thread=per_thread)
    finally:
        db.dispose()
    p50_chained, p50_plain = statistics.median(chained), statistics.median(plain)
    return {
        "writes_each": len(chained),
        "p50_ms_chained": round(p50_chained * 1e3, 3),
        "p50_ms_pre_audit": round(p50_plain * 1e3, 3),
        "p50_us_added": round((p50_chained - p50_plain) * 1e6, 1),
        "mean_us_in_hook": round(statistics.mean(hook) * 1e6, 1),
        "p99_us_in_hook": round(statistics.quantiles(hook, n=100)[98] * 1e6, 1),
        "concurrent": concurrent,
        "concurrent_pre_audit": concurrent_plain,
    }


def concurrent_appends(db: Database, threads: int, per_thread: int) -> dict[str, Any]:
    start = threading.Barrier(threads)

    def worker(n: int) -> None:
        start.wait()
        for i in range(per_thread):
            one_write(db, n * per_thread + i)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(worker, range(threads)))
    seconds = time.perf_counter() - started
    return {"threads": threads, "events": threads * per_thread, "events_per_s": round(threads * per_thread / seconds)}


# -- verification speed --------------------------------------------------------------------
def load_chain(settings: Settings, notary: Notary, n: int) -> float:
    """``n`` chained entries and a checkpoint every 100, bulk-inserted."""
    db = Database(settings.database_url, settings.database)
    started = time.perf_counter()
    prev, batch = GENESIS, []
    try:
        with db.session() as session:
            project_id = projects.get_by_name(session, DEFAULT_PROJECT).id
        for seq in range(1, n + 1):
            details = {"run": f"r{seq % 977}", "status": {"from": "RUNNING", "to": "FINISHED"}, "loss": seq / 7}
            fields = EntryFields(
                seq=seq,
                prev_hash=prev,
                at=T0 + timedelta(milliseconds=seq),
                actor=f"user-{seq % 13}",
                action="run.update",
                project_id=project_id,
                object_type="run",
                object_id=f"r{seq % 977}",
                request_id=uuid.UUID(int=seq).hex,
                source="10.0.0.1",
                change_digest=change_digest(details),
            )
            prev = entry_hash(fields)
            batch.append(
                {**{k: getattr(fields, k) for k in EntryFields.__dataclass_fields__}, "details": details, "hash": prev}
            )
            if seq % 100 == 0:
                batch[-1]["checkpoint"] = True
            if len(batch) == 5000 or seq == n:
                write_batch(db, notary, batch)
                batch = []
        with db.session() as session:
            head = lock_head(session)
            save_head(session, Head(seq=n, hash=prev, checkpoint_seq=n - n % 100))
            assert head is not None
    finally:
        db.dispose()
    return time.perf_counter() - started


def write_batch(db: Database, notary: Notary, batch: list[dict[str, Any]]) -> None:
    checkpoints = []
    for row in batch:
        if row.pop("checkpoint", False):
            draft = AuditCheckpoint(
                tree_size=row["seq"],
                head_hash=row["hash"],
                signed_at=T0,
                key_id=notary.signer.key_id,
                interval=100,
                signature="",
            )
            draft.signature = notary.signer.sign(payload(draft))
            checkpoints.append(draft)
    with db.session() as session:
        session.execute(insert(Event), batch)
        session.add_all(checkpoints)


def verify_speed(settings: Settings, n: int, home: Path) -> dict[str, Any]:
    notary = Notary.from_settings(settings)
    load_seconds = load_chain(settings, notary, n)
    db = Database(settings.database_url, settings.database)
    out: dict[str, Any] = {"entries": n, "load_seconds": round(load_seconds, 1)}
    try:
        started = time.perf_counter()
        with db.session(readonly=True) as session:
            report = audit.verify(session, notary)
        assert report.ok, report
        assert report.entries == n
        out["server_side_per_s"] = round(n / (time.perf_counter() - started))
        tracemalloc.start()
        with db.session(readonly=True) as session:
            audit.verify(session, notary)
        out["server_side_peak_mib"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
        tracemalloc.stop()
    finally:
        db.dispose()
    with Client(settings=settings) as client:
        started = time.perf_counter()
        report = client.verify_audit()
        assert report.ok, report
        assert report.entries == n
        out["sdk_over_api_per_s"] = round(n / (time.perf_counter() - started))
        path = home / "export.jsonl"
        started = time.perf_counter()
        with path.open("w", encoding="utf-8") as fh:
            client.export_audit(fh)
        out["export_per_s"] = round(n / (time.perf_counter() - started))
        out["export_mb"] = round(path.stat().st_size / 1e6, 1)
    started = time.perf_counter()
    with path.open(encoding="utf-8") as fh:
        report = verify_export(fh, str(path), pinned=[notary.signer.public_key])
    assert report.ok, report
    assert report.entries == n
    out["verify_export_per_s"] = round(n / (time.perf_counter() - started))
    return out


# -- report --------------------------------------------------------------------------------
def markdown(results: dict[str, Any]) -> str:
    lines = [
        "# audit_chain benchmark",
        "",
        f"{results['machine']['cpu']} ({results['machine']['cpus']} CPUs), Python {results['machine']['python']}, "
        f"load average at start {results['machine']['load_average_at_start']} (the machine was shared: absolute "
        "numbers move with it; the chained/pre-audit pairs are interleaved, so their difference is fair).",
        "",
        "## Append cost per event-producing unit of work (one event, one commit)",
        "",
        "| database | p50 chained | p50 pre-audit | added (p50) | in the hook (mean / p99) "
        "| 8 threads chained | 8 threads pre-audit |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, r in results["databases"].items():
        a = r["append"]
        lines.append(
            f"| {kind} | {a['p50_ms_chained']} ms | {a['p50_ms_pre_audit']} ms | {a['p50_us_added']} µs | "
            f"{a['mean_us_in_hook']} / {a['p99_us_in_hook']} µs | {a['concurrent']['events_per_s']} events/s | "
            f"{a['concurrent_pre_audit']['events_per_s']} events/s |"
        )
    lines += [
        "",
        "## Verification speed (entries per second)",
        "",
        "| database | entries | server side | peak memory (server side) | SDK over the API | export | verify-export |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, r in results["databases"].items():
        v = r["verify"]
        lines.append(
            f"| {kind} | {v['entries']:,} | {v['server_side_per_s']:,} | {v['server_side_peak_mib']} MiB | "
            f"{v['sdk_over_api_per_s']:,} | {v['export_per_s']:,} | {v['verify_export_per_s']:,} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args(argv)
    results: dict[str, Any] = {
        "machine": {
            "cpu": _cpu(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "databases": {},
    }
    for kind in [args.only] if args.only else ["sqlite", "postgresql"]:
        entry: dict[str, Any] = {}
        with tempfile.TemporaryDirectory() as tmp, fresh(kind, Path(tmp)) as settings:
            console.print(f"[bold]{kind}[/]: append cost over {args.writes} writes each way")
            entry["append"] = append_cost(settings, args.writes)
        with tempfile.TemporaryDirectory() as tmp, fresh(kind, Path(tmp)) as settings:
            console.print(f"[bold]{kind}[/]: verification of {args.entries:,} entries")
            entry["verify"] = verify_speed(settings, args.entries, Path(tmp))
        results["databases"][kind] = entry
        console.print_json(json.dumps(entry))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "audit_chain.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "audit_chain.md").write_text(markdown(results))
    console.print(markdown(results))
    return 0


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    raise SystemExit(main())
