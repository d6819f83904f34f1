"""What a run records about its code: git state, entry point, Python, packages."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import platform
import subprocess
import sys
from pathlib import Path

from shipyard.tracking.schemas import RunSource

GIT_TIMEOUT_S = 5


def _git(*args: str, cwd: Path) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.decode(errors="replace") if done.returncode == 0 else None


def package_list() -> bytes:
    """The resolved environment as sorted ``name==version`` lines."""
    seen: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            seen.setdefault(name.lower(), f"{name}=={dist.version}")
    return ("\n".join(seen[k] for k in sorted(seen)) + "\n").encode()


def capture(entry_point: str | None = None, cwd: Path | None = None) -> tuple[RunSource, bytes]:
    """The run's source record and the package list it refers to (stored as a blob)."""
    where = cwd or Path.cwd()
    packages = package_list()
    main = entry_point or (sys.argv[0] if sys.argv and sys.argv[0] else None)
    source = RunSource(
        entry_point=main,
        python_version=platform.python_version(),
        packages_sha256=hashlib.sha256(packages).hexdigest(),
        packages_count=packages.count(b"\n"),
    )
    commit = _git("rev-parse", "HEAD", cwd=where)
    if commit:
        source.git_commit = commit.strip()
        branch = _git("rev-parse", "--abbrev-ref", "HEAD", cwd=where)
        source.git_branch = branch.strip() if branch else None
        status = _git("status", "--porcelain", "--untracked-files=no", cwd=where)
        source.git_dirty = bool(status and status.strip())
        if source.git_dirty:
            diff = _git("diff", "HEAD", cwd=where) or ""
            source.git_diff_sha256 = hashlib.sha256(diff.encode()).hexdigest()
        top = _git("rev-parse", "--show-toplevel", cwd=where)
        if top and main:
            with contextlib.suppress(ValueError):
                source.entry_point = Path(main).resolve().relative_to(Path(top.strip())).as_posix()
    return source, packages
