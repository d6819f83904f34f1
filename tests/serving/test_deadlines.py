"""One timer per model expires every waiting request at its deadline."""

from __future__ import annotations

import asyncio
import time

import numpy as np

from shipyard.serving.batching import Job
from shipyard.serving.deadlines import Deadlines
from shipyard.serving.inputs import Prepared


def _job(loop: asyncio.AbstractEventLoop, in_s: float) -> Job:
    prepared = Prepared("tensor", np.zeros((1, 1)), 1, None)
    return Job(prepared, "predict", None, None, time.monotonic() + in_s, loop.create_future())


def test_each_request_expires_at_its_own_deadline_and_forgotten_ones_never() -> None:
    async def scenario() -> tuple[list[int], int]:
        loop = asyncio.get_running_loop()
        expired: list[int] = []
        jobs: dict[int, Job] = {}
        deadlines = Deadlines(lambda job: expired.append(next(k for k, j in jobs.items() if j is job)))
        jobs = {1: _job(loop, 0.15), 2: _job(loop, 0.05), 3: _job(loop, 0.10), 4: _job(loop, 0.02)}
        for key in (1, 2, 3, 4):
            deadlines.watch(jobs[key])  # 2 and 4 come later than 1 with earlier deadlines
        deadlines.forget(jobs[3])  # answered in time
        await asyncio.sleep(0.3)
        return expired, len(deadlines)

    expired, left = asyncio.run(scenario())
    assert expired == [4, 2, 1]
    assert left == 0
