"""An SDK (or CLI) client run as its own process, so its memory can be measured alone.

    python tests/sdk_child.py CAP upload   URL PATH
    python tests/sdk_child.py CAP download URL DIGEST DEST
    python tests/sdk_child.py CAP read     URL DIGEST
    python tests/sdk_child.py CAP cli      SHIPYARD-ARGS...

``URL`` ``local`` means local mode (the app in-process, over ``$SHIPYARD_HOME``).
``CAP`` is an ``RLIMIT_DATA`` in bytes (0: none), applied before anything is imported,
so a client that buffered the whole transfer would die of ``MemoryError`` instead of
passing. The last line printed is JSON: the result and ``vm_hwm_kb``, this process's
peak RSS (``VmHWM`` from ``/proc/self/status``), plus ``maxrss_kb`` for reference.

Judge by ``vm_hwm_kb``: ``ru_maxrss`` survives ``execve`` on Linux, so a child started
by a big parent (pytest, after other tests) reports the parent's RSS as its own peak.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path
from typing import Any


def peak_memory() -> dict[str, int]:
    hwm = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1])
    return {"maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "vm_hwm_kb": hwm}


def run(command: str, args: list[str]) -> dict[str, Any]:
    if command == "cli":
        from shipyard.cli.main import app

        try:
            app(args=args, prog_name="shipyard")
        except SystemExit as exc:
            return {"exit_code": exc.code}
        return {"exit_code": 0}

    from shipyard.client import Client

    url = None if args[0] == "local" else args[0]  # local: in-process, over $SHIPYARD_HOME
    with Client(url, timeout_s=120) as client:
        if command == "upload":
            info = client.upload_blob(Path(args[1]))
            return {"digest": info.digest, "size": info.size}
        if command == "download":
            path = client.download_blob(args[1], Path(args[2]))
            return {"path": str(path)}
        if command == "read":  # the whole blob in memory: what the cap must forbid
            return {"size": len(client.read_blob(args[1]))}
    raise SystemExit(f"unknown command {command!r}")


def main(argv: list[str]) -> int:
    cap = int(argv[0])
    if cap:
        resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))
    result = run(argv[1], argv[2:])
    sys.stdout.flush()
    print(json.dumps({**result, **peak_memory()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
