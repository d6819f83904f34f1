"""Column profiles: what the drift tests need from one side of a comparison.

A numeric column becomes a :class:`NumericProfile`: its finite values **sorted once** (the
KS statistic, the Wasserstein distance and every binning are read off the sorted array),
exact moments, and the missing count (NaN, null, ±inf). A categorical column becomes a
:class:`CategoricalProfile`: value counts and the missing count.

Streaming, for windows larger than memory: :class:`NumericSketch` and
:class:`CategoryCounter` take record batches one at a time and hold bounded state.

- Category counts are exact (memory grows with the number of distinct values).
- A numeric sketch keeps every distinct value with its multiplicity while there are at most
  ``capacity`` of them (default 65,536), so low-cardinality columns and windows of up to
  ``capacity`` rows stay **exact**. Beyond that it merges neighbouring values (in sorted
  order) into ``capacity`` weighted points of equal mass, each at the weighted mean of
  the values it absorbed. The rank of any value is then known to within about
  ``2 / capacity`` of the column (~3e-5 at the default): the KS statistic, every bin share
  and the empirical CDF are off by at most that much; the Wasserstein distance is
  off by at most that share of the value range within a merged point, in practice far
  less (measured in ``tests/monitoring/test_streaming.py``). Count, mean, standard
  deviation, minimum and maximum stay exact (merged with Chan's formula). Such a profile
  is marked ``exact=False`` and KS then reports the asymptotic p-value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shipyard.monitoring import _frames
from shipyard.monitoring._frames import Family
from shipyard.monitoring.errors import MonitoringInputError

FloatArray = NDArray[np.float64]
DEFAULT_CAPACITY = 65_536


@dataclass(frozen=True, eq=False)
class NumericProfile:
    """Sorted finite values of one column (with weights when duplicates were merged)."""

    values: FloatArray
    weights: FloatArray | None  # None: each value is one row
    missing: int
    mean: float
    std: float  # population standard deviation (ddof=0), as Evidently normalises by
    exact: bool = True  # every row is represented (merged only where values were equal)
    family: Family = "float"
    minimum: float | None = None  # exact extremes of a merged sketch; None: the first and last value
    maximum: float | None = None

    @property
    def low(self) -> float:
        """The smallest finite value (exact, also in a merged sketch)."""
        return float(self.values[0]) if self.minimum is None else self.minimum

    @property
    def high(self) -> float:
        """The largest finite value (exact, also in a merged sketch)."""
        return float(self.values[-1]) if self.maximum is None else self.maximum

    @property
    def count(self) -> int:
        """Rows with a finite value."""
        if self.weights is None:
            return len(self.values)
        return round(float(self.cumulative[-1]))

    @cached_property
    def cumulative(self) -> FloatArray:
        """Rows at or below each position: ``cumulative[i]`` = weight of ``values[:i]``."""
        out = np.zeros(len(self.values) + 1)
        if self.weights is None:
            out[1:] = np.arange(1, len(self.values) + 1)
        else:
            np.cumsum(self.weights, out=out[1:])
        return out

    def rank(self, points: FloatArray, side: Any = "right") -> FloatArray:
        """Rows with value ``<= points`` (``side="right"``) or ``< points`` (``"left"``)."""
        return self.cumulative[np.searchsorted(self.values, points, side=side)]

    @cached_property
    def _runs(self) -> NDArray[np.intp]:
        values = self.values
        if len(values) == 0:
            return np.zeros(0, dtype=np.intp)
        change = np.empty(len(values), dtype=bool)
        change[0] = True
        np.not_equal(values[1:], values[:-1], out=change[1:])
        return np.flatnonzero(change)

    def distinct(self) -> int | None:
        """Number of distinct values, or None when the profile is a merged sketch."""
        return len(self._runs) if self.exact else None

    def value_counts(self, column: str) -> tuple[list[Any], NDArray[np.int64]]:
        """Distinct values and their counts (for comparing a numeric column as categories)."""
        if not self.exact:
            raise MonitoringInputError(
                f"column {column!r} has more distinct values than the streaming sketch keeps; "
                "it cannot be compared as categories",
                column,
            )
        starts = self._runs
        if self.weights is None:
            counts = np.diff(np.append(starts, len(self.values))).astype(np.int64)
        else:
            counts = (
                np.rint(np.add.reduceat(self.weights, starts)).astype(np.int64)
                if len(starts)
                else np.zeros(0, np.int64)
            )
        keys = self.values[starts]
        if self.family in ("int", "bool"):
            return [int(k) for k in keys], counts
        return keys.tolist(), counts

    def expanded(self) -> FloatArray:
        """Every row's value (for the exact small-sample KS test); exact profiles only."""
        if self.weights is None:
            return self.values
        return np.repeat(self.values, np.rint(self.weights).astype(np.int64))

    @classmethod
    def from_values(cls, raw: FloatArray, family: Family = "float") -> NumericProfile:
        """Sort once; NaN and ±inf are missing."""
        finite = np.isfinite(raw)
        values = raw[finite] if not finite.all() else raw.copy()
        values.sort()
        missing = len(raw) - len(values)
        if len(values):
            mean = float(values.mean())
            std = float(values.std())
        else:
            mean = std = float("nan")
        return cls(values=values, weights=None, missing=missing, mean=mean, std=std, exact=True, family=family)


@dataclass(frozen=True, eq=False)
class CategoricalProfile:
    """Value counts of one column."""

    keys: list[Any]
    counts: NDArray[np.int64]
    missing: int
    family: Family = "string"

    @property
    def count(self) -> int:
        return int(self.counts.sum())

    def distinct(self) -> int:
        return len(self.keys)


Profile = NumericProfile | CategoricalProfile


def numeric_family(family: Family) -> bool:
    return family in ("float", "int")


def profile_column(data: Any, name: str) -> Profile:
    """Profile one column of an in-memory frame: exact (numbers sorted once, categories counted)."""
    fam = _frames.family(data, name)
    if fam == "datetime":
        raise _refuse_dates(name)
    if numeric_family(fam):
        return NumericProfile.from_values(_frames.numbers(data, name), fam)
    keys, counts, missing = _frames.value_counts(data, name)
    return CategoricalProfile(keys=keys, counts=counts, missing=missing, family=fam)


# --- streaming ------------------------------------------------------------------------


@dataclass
class NumericSketch:
    """Bounded-memory accumulator of a numeric column over batches (see the module docstring)."""

    capacity: int = DEFAULT_CAPACITY
    family: Family = "float"
    _values: FloatArray = field(default_factory=lambda: np.zeros(0))
    _weights: FloatArray = field(default_factory=lambda: np.zeros(0))
    _pending: list[FloatArray] = field(default_factory=list)
    _pending_size: int = 0
    _exact: bool = True
    _n: int = 0
    _mean: float = 0.0
    _m2: float = 0.0
    _low: float = float("inf")
    _high: float = float("-inf")
    missing: int = 0

    def add(self, raw: FloatArray) -> None:
        finite = raw[np.isfinite(raw)]
        self.missing += len(raw) - len(finite)
        if not len(finite):
            return
        self._low = min(self._low, float(finite.min()))
        self._high = max(self._high, float(finite.max()))
        n_b, mean_b = len(finite), float(finite.mean())
        m2_b = float(((finite - mean_b) ** 2).sum())
        total = self._n + n_b
        delta = mean_b - self._mean
        self._mean += delta * n_b / total
        self._m2 += m2_b + delta * delta * self._n * n_b / total
        self._n = total
        self._pending.append(finite)
        self._pending_size += n_b
        if self._pending_size >= self.capacity:
            self._compact()

    def _compact(self) -> None:
        if not self._pending:
            return
        values = np.concatenate([self._values, *self._pending])
        weights = np.concatenate([self._weights, np.ones(self._pending_size)])
        self._pending, self._pending_size = [], 0
        order = np.argsort(values, kind="stable")
        values, weights = values[order], weights[order]
        starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
        values, weights = values[starts], np.add.reduceat(weights, starts)
        if len(values) > self.capacity:
            cumulative = np.cumsum(weights)
            total = cumulative[-1]
            bucket = np.minimum(((cumulative - weights) * (self.capacity / total)).astype(np.int64), self.capacity - 1)
            starts = np.flatnonzero(np.concatenate(([True], bucket[1:] != bucket[:-1])))
            merged = np.add.reduceat(weights, starts)
            values = np.add.reduceat(values * weights, starts) / merged
            weights = merged
            self._exact = False
        self._values, self._weights = values, weights

    def profile(self) -> NumericProfile:
        self._compact()
        if self._n:
            mean, std = self._mean, float(np.sqrt(max(self._m2, 0.0) / self._n))
        else:
            mean = std = float("nan")
        return NumericProfile(
            values=self._values,
            weights=self._weights,
            missing=self.missing,
            mean=mean,
            std=std,
            exact=self._exact,
            family=self.family,
            minimum=self._low if self._n else None,
            maximum=self._high if self._n else None,
        )


@dataclass
class CategoryCounter:
    """Exact value counts of a categorical column over batches."""

    family: Family = "string"
    counts: dict[Any, int] = field(default_factory=dict)
    missing: int = 0

    def add(self, keys: list[Any], counts: NDArray[np.int64], missing: int) -> None:
        self.missing += missing
        for key, count in zip(keys, counts.tolist(), strict=True):
            self.counts[key] = self.counts.get(key, 0) + count

    def profile(self) -> CategoricalProfile:
        return CategoricalProfile(
            keys=list(self.counts),
            counts=np.asarray(list(self.counts.values()), dtype=np.int64),
            missing=self.missing,
            family=self.family,
        )


@dataclass(frozen=True)
class DatasetProfile:
    """Profiles of the columns of one window (reference or current) and its row count."""

    columns: Mapping[str, Profile]
    rows: int


def _refuse_dates(name: str) -> MonitoringInputError:
    return MonitoringInputError(
        f"column {name!r} holds dates or times, which drift detection does not compare; "
        "convert it to numbers or leave it out of the spec's columns",
        name,
    )


class Profiler:
    """Profiles of a window taken one record batch at a time (:meth:`add`), in bounded memory:
    ``capacity`` points per numeric column and the distinct values of each categorical one.

    The column set and storage families come from the first batch; later batches must hold
    the same columns. :func:`profile_batches` is this over an iterable.
    """

    def __init__(self, columns: list[str] | None = None, *, capacity: int = DEFAULT_CAPACITY) -> None:
        self.columns = columns
        self.capacity = capacity
        self.rows = 0
        self._accumulators: dict[str, NumericSketch | CategoryCounter] | None = None

    def _start(self, batch: Any) -> dict[str, NumericSketch | CategoryCounter]:
        present = _frames.column_names(batch)
        accumulators: dict[str, NumericSketch | CategoryCounter] = {}
        for name in self.columns if self.columns is not None else present:
            if name not in present:
                raise MonitoringInputError(f"column {name!r} is not in the data", name)
            fam = _frames.family(batch, name)
            if fam == "datetime":
                raise _refuse_dates(name)
            numeric = numeric_family(fam)
            accumulators[name] = NumericSketch(self.capacity, fam) if numeric else CategoryCounter(family=fam)
        return accumulators

    def add(self, batch: Any) -> None:
        _frames.check_frame(batch, "batch")
        if self._accumulators is None:
            self._accumulators = self._start(batch)
        self.rows += _frames.num_rows(batch)
        present = _frames.column_names(batch)
        for name, acc in self._accumulators.items():
            if name not in present:
                raise MonitoringInputError(f"column {name!r} is missing from a later batch", name)
            if isinstance(acc, NumericSketch):
                acc.add(_frames.numbers(batch, name))
            else:
                acc.add(*_frames.value_counts(batch, name))

    def result(self) -> DatasetProfile:
        accumulators = self._accumulators or {}
        return DatasetProfile(columns={name: acc.profile() for name, acc in accumulators.items()}, rows=self.rows)


def profile_batches(
    batches: Iterable[Any], *, columns: list[str] | None = None, capacity: int = DEFAULT_CAPACITY
) -> DatasetProfile:
    """Profile a window given as record batches (pyarrow RecordBatches/Tables or DataFrames).

    Memory is bounded by ``capacity`` points per numeric column and the distinct values of
    each categorical column, whatever the number of rows. The column set and storage
    families come from the first batch; later batches must hold the same columns.
    """
    profiler = Profiler(columns, capacity=capacity)
    for batch in batches:
        profiler.add(batch)
    return profiler.result()


def profile_frame(data: Any, *, columns: list[str] | None = None) -> DatasetProfile:
    """Exact profile of an in-memory frame (every numeric column sorted once)."""
    _frames.check_frame(data, "data")
    names = columns if columns is not None else _frames.column_names(data)
    present = set(_frames.column_names(data))
    for name in names:
        if name not in present:
            raise MonitoringInputError(f"column {name!r} is not in the data", name)
    return DatasetProfile(columns={name: profile_column(data, name) for name in names}, rows=_frames.num_rows(data))


__all__ = [
    "DEFAULT_CAPACITY",
    "CategoricalProfile",
    "CategoryCounter",
    "DatasetProfile",
    "NumericProfile",
    "NumericSketch",
    "Profile",
    "Profiler",
    "profile_batches",
    "profile_column",
    "profile_frame",
]
