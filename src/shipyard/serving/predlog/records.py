"""What the hot path hands the prediction log: a :class:`Capture` of references, after a
sampling decision that costs one hash; and where its records go (:class:`Partition`)."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from shipyard.serving.inputs import Prepared

_HASH_SPACE = 1 << 64
Packed = tuple[Any, ...]  # a Capture as Capture.packed() gives it
_HEAD = 10  # scalars at the start of a packed capture
ERROR_CHARS = 1_000
USER_KEY_CHARS = 256


class Sampler:
    """Keeps ``rate`` of the requests, decided by a hash of the request id: the same id is
    always in or always out, on every replica, so a request is logged whole or not at all."""

    __slots__ = ("_threshold", "rate")

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._threshold = int(rate * _HASH_SPACE)

    def __call__(self, request_id: str) -> bool:
        if self.rate >= 1.0:
            return True
        if self.rate <= 0.0:
            return False
        digest = hashlib.blake2b(request_id.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") < self._threshold


@dataclass(slots=True)
class Capture:
    """One answered (or refused) request, by reference: nothing is copied or converted
    here; the writer thread turns it into one record per row.

    ``features`` is the request's data as fitted to the signature (None when it was
    refused before that); ``outputs`` maps each model method that ran to what it
    returned (an array or a DataFrame); ``first_row`` numbers its rows (a batch job's
    chunk starts at its position in the input)."""

    request_id: str
    ts: float  # time.time() of the request's arrival
    model: str
    version: str
    protocol: str
    status: int
    latency_ms: float | None
    features: Prepared | None = None
    outputs: dict[str, Any] | None = None
    error: str | None = None
    user_key: str | None = None
    first_row: int = 0

    @property
    def records(self) -> int:
        """Records (rows) this request becomes: one per input row, one if none was decoded."""
        return self.features.rows if self.features is not None else 1

    def packed(self) -> Packed:
        """The capture as one flat tuple of strings, numbers and arrays, which the garbage
        collector stops tracking at its first pass (a tuple holding a dict or another
        tuple can take a pass per level, and so reach the oldest generation). Thousands of
        captures waiting a few seconds would otherwise make full collections (of the whole
        heap: hundreds of milliseconds once a model's libraries are loaded) come far more
        often, which shows in the tail latency.

        Layout: the ten scalars, then ``kind, rows, n`` and the features (``n`` names then
        ``n`` arrays; ``n`` is -1 for one unnamed array, 0 for none), then the outputs as
        ``method, output`` pairs."""
        head = (
            self.request_id,
            self.ts,
            self.model,
            self.version,
            self.protocol,
            self.status,
            self.latency_ms,
            self.error,
            self.user_key,
            self.first_row,
        )
        f = self.features
        if f is None:
            features: Packed = (None, 0, 0)
        elif isinstance(f.value, dict):
            features = (f.kind, f.rows, len(f.value), *f.value, *f.value.values())
        else:
            features = (f.kind, f.rows, -1, f.value)
        outputs = () if self.outputs is None else tuple(x for pair in self.outputs.items() for x in pair)
        return head + features + outputs

    @classmethod
    def unpacked(cls, packed: Packed) -> Capture:
        request_id, ts, model, version, protocol, status, latency_ms, error, user_key, first_row = packed[:_HEAD]
        kind, rows, n = packed[_HEAD : _HEAD + 3]
        at = _HEAD + 3
        features = None
        if kind is not None:
            if n < 0:
                value: Any = packed[at]
                at += 1
            else:
                value = dict(zip(packed[at : at + n], packed[at + n : at + 2 * n], strict=True))
                at += 2 * n
            features = Prepared(kind, value, rows, None)
        rest = packed[at:]
        outputs = dict(zip(rest[::2], rest[1::2], strict=True)) if rest else None
        return cls(
            request_id, ts, model, version, protocol, status, latency_ms, features, outputs, error, user_key, first_row
        )


def packed_records(packed: Packed) -> int:
    """``Capture.records`` of a packed capture."""
    return 1 if packed[_HEAD] is None else int(packed[_HEAD + 1])


def partition_key(packed: Packed, day_s: int) -> tuple[str, str, int]:
    """``(model, version, day number)`` of a packed capture."""
    return packed[2], packed[3], int(packed[1] // day_s)


@dataclass(frozen=True, slots=True)
class Partition:
    """One hive-style directory of the log."""

    project: str
    endpoint: str
    model: str
    version: str
    date: str  # YYYY-MM-DD (UTC)

    @property
    def path(self) -> str:
        return (
            f"project={self.project}/endpoint={self.endpoint}/model={self.model}/"
            f"version={self.version}/date={self.date}"
        )


def utc_date(ts: float) -> str:
    t = time.gmtime(ts)
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"


def clip(text: str | None, limit: int) -> str | None:
    return text if text is None or len(text) <= limit else text[: limit - 1] + "…"


__all__ = [
    "ERROR_CHARS",
    "USER_KEY_CHARS",
    "Capture",
    "Packed",
    "Partition",
    "Sampler",
    "clip",
    "packed_records",
    "partition_key",
    "utc_date",
]
