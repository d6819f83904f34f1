"""Schedules: the server's scheduler thread runs due monitors by itself; schedulers running at
once (server replicas, cron) never run one monitor twice for one due time."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update

from shipyard.client import Client
from shipyard.demo.background_server import serve_in_thread
from shipyard.monitoring import service
from shipyard.monitoring.logstore import LogStore
from shipyard.monitoring.scheduler import MonitorScheduler
from shipyard.monitoring.tables import Monitor, MonitorResult
from shipyard.server.app import create_app
from shipyard.settings import MonitoringSettings, Settings
from shipyard.store.engine import Database
from tests.monitoring._predlog import write_log
from tests.monitoring._synthetic import window


def _due_monitors(client: Client, db: Database, names: list[str]) -> None:
    for name in names:
        client.monitoring.create_monitor(name, "churn", window="24h", schedule="0 0 1 1 *")  # once a year
    with db.session() as session:  # ... and due a second ago
        session.execute(update(Monitor).values(next_run_at=datetime.now(UTC) - timedelta(seconds=1)))


def _results(db: Database) -> list[tuple[str, str]]:
    with db.session(readonly=True) as session:
        rows = session.execute(
            select(Monitor.name, MonitorResult.trigger).join(Monitor, Monitor.id == MonitorResult.monitor_id)
        )
        return sorted((name, trigger) for name, trigger in rows)


def test_the_server_runs_due_monitors_by_itself(client: Client, settings: Settings) -> None:
    write_log(Path(settings.prediction_log_url), window(1, 50), ts=time.time() - 60)
    db = Database(settings.database_url)
    try:
        _due_monitors(client, db, ["a", "b"])
        fast = settings.model_copy(update={"monitoring": MonitoringSettings(schedule_interval_s=0.1)})
        with serve_in_thread(create_app(fast)):
            deadline = time.monotonic() + 20
            while len(_results(db)) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
        assert _results(db) == [("a", "schedule"), ("b", "schedule")]
        next_runs = {m.name: m.next_run_at for m in client.monitoring.iter_monitors()}
        assert all(t is not None and (t.month, t.day, t.hour) == (1, 1, 0) for t in next_runs.values())
    finally:
        db.dispose()


def test_concurrent_schedulers_never_run_a_monitor_twice(client: Client, settings: Settings) -> None:
    db = Database(settings.database_url)
    try:
        _due_monitors(client, db, ["m1", "m2", "m3"])
        schedulers = [MonitorScheduler(db, settings, 1.0) for _ in range(3)]
        counts: list[int] = []
        threads = [threading.Thread(target=lambda s=s: counts.append(s.tick())) for s in schedulers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(counts) == 3
        assert _results(db) == [("m1", "schedule"), ("m2", "schedule"), ("m3", "schedule")]
        with db.session() as session:  # nothing is due any more
            assert service.run_due(session, datetime.now(UTC), LogStore.from_settings(settings)) == []
    finally:
        db.dispose()
