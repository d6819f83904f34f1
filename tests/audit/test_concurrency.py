"""Concurrent writers never fork the chain (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from shipyard.audit.checkpoints import Notary
from shipyard.events.context import Actor
from shipyard.projects import service as projects
from shipyard.projects.tables import DEFAULT_PROJECT
from shipyard.settings import Settings
from shipyard.store.engine import Database
from shipyard.tracking import experiments, runs
from shipyard.tracking.schemas import ExperimentCreate, RunCreate

from .conftest import rows, verify

THREADS = 8
WRITES = 25


def test_eight_writers_build_one_gapless_chain(db: Database, notary: Notary, settings: Settings) -> None:
    """8 threads x 25 units of work, each recording one or two events through the
    tracking services, all starting together; the commit-time appender must serialise
    them into one chain with checkpoints at every 10th entry."""
    start = threading.Barrier(THREADS)

    def writer(worker: int) -> int:
        actor = Actor(f"worker-{worker}", request_id=f"w{worker}", source="127.0.0.1")
        start.wait()
        recorded = 0
        for i in range(WRITES):
            with db.session() as session:
                project = projects.get_by_name(session, DEFAULT_PROJECT)
                exp = experiments.create(session, actor, project, ExperimentCreate(name=f"w{worker}-{i}"))
                recorded += 1
                if i % 5 == 0:  # some units of work record two events
                    runs.create(session, actor, project, RunCreate(experiment_id=exp.id))
                    recorded += 1
        return recorded

    work: Callable[[int], int] = writer
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        total = sum(pool.map(work, range(THREADS)))
    assert total == THREADS * (WRITES + WRITES // 5)

    seqs = [r[0] for r in rows(db, "SELECT seq FROM events ORDER BY seq")]
    assert seqs == list(range(1, total + 1))  # unique, gapless
    links = rows(db, "SELECT prev_hash FROM events")
    assert len({r[0] for r in links}) == total  # no two entries share a predecessor: no fork
    checkpoints = [r[0] for r in rows(db, "SELECT tree_size FROM audit_checkpoints ORDER BY tree_size")]
    assert len(checkpoints) >= total // 10 - 1
    assert all(b - a >= 10 for a, b in itertools.pairwise(checkpoints))
    report = verify(db, notary)
    assert report.ok, report.problem
    assert report.entries == total
    assert report.unsigned_entries < 10
