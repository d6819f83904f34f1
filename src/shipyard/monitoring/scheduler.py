"""The server's monitor scheduler: a daemon thread that calls :func:`~shipyard.monitoring.service.run_due`
every ``monitoring.schedule_interval_s`` seconds.

``shipyard server`` starts one per process (``create_app`` outside local mode) unless the
interval is 0; ``shipyard monitor run-due`` from cron does the same job from outside. Any number
may run at once: ``run_due`` claims each monitor before running it, so none runs twice for one
due time. A tick that fails is logged and the next one tries again.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from shipyard.logging import get_logger
from shipyard.monitoring import service
from shipyard.monitoring.logstore import LogStore
from shipyard.settings import Settings
from shipyard.store.engine import Database

log = get_logger("shipyard.monitoring")


class MonitorScheduler:
    def __init__(self, db: Database, settings: Settings, interval_s: float) -> None:
        self.db = db
        self.settings = settings
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self, now: datetime | None = None) -> int:
        """Run the monitors due at ``now``; how many ran."""
        with self.db.session() as session:
            done = service.run_due(session, now or datetime.now(UTC), LogStore.from_settings(self.settings))
        return len(done)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                ran = self.tick()
            except Exception as exc:  # a tick must not kill the thread; the next one retries
                log.error("scheduled monitors failed", error=f"{type(exc).__name__}: {exc}")
                continue
            if ran:
                log.info("scheduled monitors ran", monitors=ran)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="shipyard-monitor-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None


def start_scheduler(db: Database, settings: Settings) -> MonitorScheduler | None:
    """A started scheduler, or None when ``monitoring.schedule_interval_s`` is 0."""
    interval = settings.monitoring.schedule_interval_s
    if interval <= 0:
        return None
    scheduler = MonitorScheduler(db, settings, interval)
    scheduler.start()
    return scheduler


__all__ = ["MonitorScheduler", "start_scheduler"]
