"""``shipyard predict`` in a process whose data segment is capped, reporting its peak memory.

``python -m tests.batch.memory_child <cap bytes, 0: none> <shipyard args...>``; the last
line of stdout is ``{"exit": <code>, "peak_rss": <bytes>}`` (VmHWM: this process only)."""

from __future__ import annotations

import json
import resource
import sys


def peak_rss() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    cap = int(sys.argv[1])
    if cap:
        resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))
    from tests.batch.cli import app

    try:
        returned = app(sys.argv[2:], standalone_mode=False)
        code = returned if isinstance(returned, int) else 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except MemoryError:
        code = 99
    sys.stdout.write("\n" + json.dumps({"exit": code, "peak_rss": peak_rss()}) + "\n")


if __name__ == "__main__":
    main()
