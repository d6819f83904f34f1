"""HTTP ``Range: bytes=…`` parsing for resumable downloads (one range per request)."""

from __future__ import annotations

import re

from shipyard.errors import RangeNotSatisfiable

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Return the inclusive (start, end) to serve, or None for the whole blob."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if not match or (not match.group(1) and not match.group(2)):
        raise RangeNotSatisfiable(
            f"Range '{header[:64]}' is not a single 'bytes=start-end' range", {"field": "Range", "size": size}
        )
    first, last = match.group(1), match.group(2)
    if first:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    else:  # suffix: the last N bytes
        start = max(size - int(last), 0)
        end = size - 1
    if start >= size or start > end:
        raise RangeNotSatisfiable(
            f"Range '{header[:64]}' is outside the blob's {size} bytes", {"field": "Range", "size": size}
        )
    return start, end
