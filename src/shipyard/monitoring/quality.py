"""Data quality of one window against a column spec (a model signature plus ranges and categories).

Checks, each with a threshold and a pass/fail with its numbers (:class:`QualityCheck`):

================== ============================================ ===================== ==============
check              measured value                               default threshold     fails when
================== ============================================ ===================== ==============
``missing_column`` 1 if a required column is absent             0                     value > 0
``extra_column``   1 if a column is not in the spec             0 (if not allowed)    value > 0
``type``           1 if the column's type does not conform      0                     value > 0
``missing``        null/NaN rows / rows                         0.05                  value > thr.
``out_of_range``   values outside [minimum, maximum] / values   0.01                  value > thr.
``unseen``         values not in ``categories`` / values        0                     value > thr.
``duplicates``     rows repeating an earlier row / rows         0.01                  value > thr.
================== ============================================ ===================== ==============

Types conform by family: a float column accepts integers, an integer column accepts floats
whose values are all whole numbers (pandas turns an integer column with nulls into floats),
``object`` accepts anything. Extra columns are reported and pass unless
``allow_extra_columns=False``. Thresholds are per spec, overridable per column.

:meth:`QualitySpec.from_signature` builds a spec from a model signature;
:func:`infer_quality_spec` learns ranges, categories and missing-rate allowances from a
reference window.

**Streaming.** The checks decide from counts alone — per column a :class:`ColumnFacts`
(missing values, numbers outside the range, observed extremes, values outside the
categories, whether every number is whole), for the window a :class:`QualityProfile`
(those, the row count and the duplicate count). :func:`check_quality` counts them over one
frame; :class:`QualityProfiler` accumulates them over record batches in bounded memory,
and :func:`check_quality_profile` / :func:`infer_quality_spec_from_profile` decide from
them, so a window streamed in batches and the same window in memory give the same report.
Duplicates need every row at once: :func:`check_quality` counts them with Arrow's group-by
or pandas; a streamed window is given its count (a monitor run asks DuckDB, see
:mod:`shipyard.monitoring.service`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from shipyard.models.signature import NUMERIC_TYPES, values_type
from shipyard.monitoring import _frames
from shipyard.monitoring._frames import Family
from shipyard.monitoring.errors import MonitoringInputError
from shipyard.monitoring.specs import ColumnRule, QualitySpec

CheckName = Literal["missing_column", "extra_column", "type", "missing", "out_of_range", "unseen", "duplicates"]
MAX_LISTED = 20  # unseen values listed in a check's details
MAX_UNSEEN_KEPT = 10_000  # distinct unseen values a column's facts keep (their rows are all counted)


class QualityCheck(BaseModel):
    check: CheckName
    column: str | None  # None for a whole-row check (duplicates)
    passed: bool
    value: float
    threshold: float
    count: int  # offending rows (1 for a schema finding)
    rows: int  # rows the rate is taken over
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class QualityReport(BaseModel):
    rows: int
    passed: bool
    checks: list[QualityCheck]

    @property
    def failures(self) -> list[QualityCheck]:
        return [c for c in self.checks if not c.passed]


# --- types ------------------------------------------------------------------------------


def _arrow_value_type(kind: Any) -> str:
    import pyarrow as pa  # type: ignore[import-untyped]

    if pa.types.is_dictionary(kind):
        return _arrow_value_type(kind.value_type)
    if pa.types.is_boolean(kind):
        return "bool"
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return str(np.dtype(kind.to_pandas_dtype()).name)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return "string"
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return "bytes"
    if pa.types.is_temporal(kind):
        return "datetime"
    return "object"


def actual_type(data: Any, name: str) -> str:
    if _frames.is_arrow(data):
        return _arrow_value_type(data.schema.field(name).type)
    return values_type(data[name])


def _family(value_type: str) -> str:
    if value_type.startswith(("int", "uint")):
        return "int"
    if value_type.startswith("float"):
        return "float"
    return value_type


def _conforms(expected: str, actual: str, fractional: bool) -> bool:
    """``fractional``: the column holds a finite number that is not whole."""
    want, have = _family(expected), _family(actual)
    if want in ("object", have):
        return True
    if want == "float" and have in ("int", "bool"):
        return True
    if want == "int" and have == "float":
        return not fractional
    return False


# --- what the checks count -----------------------------------------------------------------


@dataclass
class ColumnFacts:
    """What the checks of one column, and the inference of its rule, need: counted over one
    frame or accumulated batch by batch (:meth:`add`), in memory bounded by the distinct
    values kept (unseen values up to ``MAX_UNSEEN_KEPT``; every value only up to
    ``key_limit``, when learning categories).

    ``minimum``/``maximum``/``categories`` are what the column is counted against (a rule's);
    ``key_limit`` keeps every distinct value while there are at most that many.
    """

    name: str
    actual: str  # the value type (shipyard.models.signature)
    family: Family
    minimum: float | None = None
    maximum: float | None = None
    categories: frozenset[Any] | None = None
    key_limit: int | None = None
    rows: int = 0
    missing: int = 0  # null or NaN (an infinite number is a value)
    present: int = 0  # numbers that are not missing
    outside: int = 0  # of them, outside [minimum, maximum]
    low: float = np.inf  # the smallest and largest present number (±inf included)
    high: float = -np.inf
    finite_low: float = np.inf
    finite_high: float = -np.inf
    fractional: bool = False  # a finite number is not whole
    counted: int = 0  # non-missing values counted against the categories
    unseen: int = 0  # of them, not among the categories
    keys: dict[Any, int] = field(default_factory=dict)  # the unseen values (with categories), else every value
    keys_complete: bool = True  # False: more distinct values than kept

    @classmethod
    def start(
        cls, data: Any, name: str, rule: ColumnRule | None = None, *, key_limit: int | None = None
    ) -> ColumnFacts:
        """Facts of column ``name`` with nothing counted yet; its types from ``data`` (a first batch)."""
        return cls(
            name=name,
            actual=actual_type(data, name),
            family=_frames.family(data, name),
            minimum=None if rule is None else rule.minimum,
            maximum=None if rule is None else rule.maximum,
            categories=None if rule is None or rule.categories is None else frozenset(rule.categories),
            key_limit=key_limit,
        )

    @property
    def numeric(self) -> bool:
        return _family(self.actual) in ("int", "float", "bool") or self.actual in NUMERIC_TYPES

    @property
    def ranged(self) -> bool:
        return self.minimum is not None or self.maximum is not None

    def _keep(self, keys: list[Any], counts: list[int], limit: int) -> None:
        for key, count in zip(keys, counts, strict=True):
            if key in self.keys:
                self.keys[key] += count
            elif len(self.keys) < limit:
                self.keys[key] = count
            else:
                self.keys_complete = False

    def add(self, data: Any) -> None:
        """Count one batch (or a whole frame) of the column."""
        name = self.name
        self.rows += _frames.num_rows(data)
        numeric = self.numeric
        if not numeric and self.ranged:
            raise MonitoringInputError(f"column {name!r} has a range but does not hold numbers", name)
        learning_range = self.key_limit is not None and self.family in ("float", "int")
        if learning_range or (numeric and (self.categories is None or self.ranged or _family(self.actual) == "float")):
            values = _frames.numbers(data, name)
            nan = np.isnan(values)
            self.missing += int(nan.sum())
            present = values[~nan]
            self.present += len(present)
            if len(present):
                self.low, self.high = min(self.low, float(present.min())), max(self.high, float(present.max()))
                finite = present[np.isfinite(present)]
                if len(finite):
                    self.finite_low = min(self.finite_low, float(finite.min()))
                    self.finite_high = max(self.finite_high, float(finite.max()))
                    self.fractional = self.fractional or not bool(np.all(finite == np.round(finite)))
                if self.ranged:
                    low = -np.inf if self.minimum is None else self.minimum
                    high = np.inf if self.maximum is None else self.maximum
                    self.outside += int(np.count_nonzero((present < low) | (present > high)))
            counted_missing = True
        else:
            counted_missing = False
        learn = self.key_limit is not None and self.family in ("string", "bool", "int", "other")
        if self.categories is not None or learn or not counted_missing:
            keys, counts, missing = _frames.value_counts(data, name)
            if not counted_missing:
                self.missing += missing
            if self.categories is not None:
                allowed = self.categories
                unseen = [k not in allowed for k in keys]
                self.counted += int(counts.sum())
                self.unseen += int(counts[np.asarray(unseen, dtype=bool)].sum()) if len(keys) else 0
                kept = [(k, c) for k, c, u in zip(keys, counts.tolist(), unseen, strict=True) if u]
                self._keep([k for k, _ in kept], [c for _, c in kept], MAX_UNSEEN_KEPT)
            elif learn and self.keys_complete:
                assert self.key_limit is not None
                self._keep(keys, counts.tolist(), self.key_limit + 1)

    def as_floats(self) -> ColumnFacts:
        """The facts of this integer column read as floats, as pandas reads an integer column
        that has missing values (``float64``)."""
        if self.family != "int" or not self.missing:
            return self
        return ColumnFacts(**{**self.__dict__, "actual": "float64", "family": "float"})


@dataclass(frozen=True)
class QualityProfile:
    """What every check of a window needs: its row count, its columns (in order), the facts
    of the columns the rules (or the inference) look at, and its duplicate rows (None: not
    counted)."""

    rows: int
    columns: list[str]
    facts: Mapping[str, ColumnFacts]
    duplicates: int | None = None


class QualityProfiler:
    """Accumulates a :class:`QualityProfile` over record batches (pyarrow RecordBatches or
    Tables, or DataFrames): :meth:`add` each, then :meth:`result` with the duplicate count.

    With a ``spec``, it counts what the spec's checks need; without one, what
    :func:`infer_quality_spec_from_profile` needs to learn a spec from ``columns`` (default
    every column), keeping at most ``max_categories`` + 1 distinct values per column.
    """

    def __init__(
        self, spec: QualitySpec | None = None, *, columns: list[str] | None = None, max_categories: int = 50
    ) -> None:
        self.spec = spec
        self.wanted = columns
        self.max_categories = max_categories
        self.rows = 0
        self.columns: list[str] | None = None
        self.facts: dict[str, ColumnFacts] = {}

    def _start(self, data: Any) -> None:
        present = _frames.column_names(data)
        self.columns = present
        if self.spec is not None:
            for rule in self.spec.columns:
                if rule.name in present:
                    self.facts[rule.name] = ColumnFacts.start(data, rule.name, rule)
            return
        for name in self.wanted if self.wanted is not None else present:
            if name not in present:
                raise MonitoringInputError(f"column {name!r} is not in the reference data", name)
            self.facts[name] = ColumnFacts.start(data, name, key_limit=self.max_categories)

    def add(self, data: Any) -> None:
        _frames.check_frame(data, "data")
        if self.columns is None:
            self._start(data)
        self.rows += _frames.num_rows(data)
        present = _frames.column_names(data)
        for name, facts in self.facts.items():
            if name not in present:
                raise MonitoringInputError(f"column {name!r} is missing from a later batch", name)
            facts.add(data)

    def result(self, duplicates: int | None = None) -> QualityProfile:
        return QualityProfile(rows=self.rows, columns=list(self.columns or []), facts=self.facts, duplicates=duplicates)


def quality_profile(
    data: Any, spec: QualitySpec | None = None, *, columns: list[str] | None = None, max_categories: int = 50
) -> QualityProfile:
    """The :class:`QualityProfile` of one in-memory window (duplicates counted if ``spec``
    checks them, or when no spec is given, to learn one)."""
    _frames.check_frame(data, "data")
    profiler = QualityProfiler(spec, columns=columns, max_categories=max_categories)
    profiler.add(data)
    count = spec is None or spec.check_duplicates
    return profiler.result(_duplicates(data) if count and _frames.num_rows(data) else 0)


# --- checks -------------------------------------------------------------------------------


def _rate(count: int, total: int) -> float:
    return count / total if total else 0.0


def _check(
    check: CheckName, column: str | None, count: int, total: int, threshold: float, message: str, **details: Any
) -> QualityCheck:
    value = _rate(count, total)
    return QualityCheck(
        check=check,
        column=column,
        passed=value <= threshold,
        value=value,
        threshold=threshold,
        count=count,
        rows=total,
        message=message,
        details=details,
    )


def _duplicates(data: Any) -> int:
    names = _frames.column_names(data)
    if _frames.is_arrow(data):
        try:
            distinct = data.group_by(names).aggregate([]).num_rows
            return int(_frames.num_rows(data) - distinct)
        except Exception:  # a type Arrow cannot group by (lists, structs): fall back to pandas
            data = data.to_pandas()
    return int(data.duplicated(keep="first").sum())


def _column_checks(facts: ColumnFacts, rule: ColumnRule, spec: QualitySpec, rows: int) -> list[QualityCheck]:
    name, actual = rule.name, facts.actual
    checks: list[QualityCheck] = []
    if rule.type is not None:
        ok = _conforms(rule.type, actual, facts.fractional)
        checks.append(
            _check(
                "type",
                name,
                0 if ok else 1,
                1,
                0.0,
                f"{name}: {actual} conforms to {rule.type}" if ok else f"{name}: expected {rule.type}, found {actual}",
                expected=rule.type,
                actual=actual,
            )
        )
    missing = facts.missing
    threshold = rule.max_missing_rate if rule.max_missing_rate is not None else spec.max_missing_rate
    checks.append(_check("missing", name, missing, rows, threshold, f"{name}: {missing} of {rows} rows missing"))
    if rule.minimum is not None or rule.maximum is not None:
        low = -np.inf if rule.minimum is None else rule.minimum
        high = np.inf if rule.maximum is None else rule.maximum
        outside, present = facts.outside, facts.present
        threshold = rule.max_out_of_range_rate if rule.max_out_of_range_rate is not None else spec.max_out_of_range_rate
        checks.append(
            _check(
                "out_of_range",
                name,
                outside,
                present,
                threshold,
                f"{name}: {outside} of {present} values outside [{low}, {high}]",
                minimum=rule.minimum,
                maximum=rule.maximum,
                observed_min=facts.low if present else None,
                observed_max=facts.high if present else None,
            )
        )
    if rule.categories is not None:
        unseen, total = facts.unseen, facts.counted
        threshold = rule.max_unseen_rate if rule.max_unseen_rate is not None else spec.max_unseen_rate
        details: dict[str, Any] = {
            "unseen_values": [str(k) for k in list(facts.keys)[:MAX_LISTED]],
            "unseen_distinct": len(facts.keys),
        }
        if not facts.keys_complete:
            details["unseen_distinct_at_least"] = True
        checks.append(
            _check(
                "unseen",
                name,
                unseen,
                total,
                threshold,
                f"{name}: {unseen} of {total} values not among the {len(set(rule.categories))} known categories",
                **details,
            )
        )
    return checks


def check_quality_profile(profile: QualityProfile, spec: QualitySpec) -> QualityReport:
    """Run every check of ``spec`` on a window's :class:`QualityProfile` (counted for that
    spec: :class:`QualityProfiler` ``(spec)`` or :func:`quality_profile`)."""
    rows = profile.rows
    present = profile.columns
    expected = {rule.name for rule in spec.columns}
    checks: list[QualityCheck] = []
    for rule in spec.columns:
        if rule.name not in present:
            checks.append(
                _check(
                    "missing_column",
                    rule.name,
                    0 if rule.optional else 1,
                    1,
                    0.0,
                    f"{rule.name}: absent" + (" (optional)" if rule.optional else ""),
                    optional=rule.optional,
                )
            )
            continue
        facts = profile.facts.get(rule.name)
        if facts is None:
            raise MonitoringInputError(f"column {rule.name!r} was not counted for this spec", rule.name)
        checks.extend(_column_checks(facts, rule, spec, rows))
    for name in present:
        if name not in expected:
            checks.append(
                _check(
                    "extra_column",
                    name,
                    0 if spec.allow_extra_columns else 1,
                    1,
                    0.0,
                    f"{name}: not in the spec" + (" (allowed)" if spec.allow_extra_columns else ""),
                )
            )
    if spec.check_duplicates and rows:
        duplicates = profile.duplicates
        if duplicates is None:
            raise MonitoringInputError("the window's duplicate rows were not counted (or set check_duplicates=False)")
        checks.append(
            _check(
                "duplicates",
                None,
                duplicates,
                rows,
                spec.max_duplicate_rate,
                f"{duplicates} of {rows} rows repeat an earlier row",
            )
        )
    return QualityReport(rows=rows, passed=all(c.passed for c in checks), checks=checks)


def check_quality(data: Any, spec: QualitySpec) -> QualityReport:
    """Run every check of ``spec`` on one window (a pandas DataFrame or a pyarrow Table)."""
    return check_quality_profile(quality_profile(data, spec), spec)


def _learned_rule(facts: ColumnFacts, rows: int, missing_margin: float) -> ColumnRule:
    fam = facts.family
    rule: dict[str, Any] = {"name": facts.name, "type": facts.actual}
    if fam in ("string", "bool", "int", "other"):
        keys = list(facts.keys)
        limit = facts.key_limit if facts.key_limit is not None else len(keys)
        if facts.keys_complete and len(keys) <= limit and all(isinstance(k, bool | int | float | str) for k in keys):
            rule["categories"] = keys
        elif fam == "int" and facts.present:
            rule.update(minimum=facts.finite_low, maximum=facts.finite_high)
    elif fam == "float" and facts.finite_low <= facts.finite_high:
        rule.update(minimum=facts.finite_low, maximum=facts.finite_high)
    rule["max_missing_rate"] = min(1.0, facts.missing / rows + missing_margin)
    return ColumnRule(**rule)


def infer_quality_spec_from_profile(
    profile: QualityProfile, *, missing_margin: float = 0.05, duplicate_margin: float = 0.01, **settings: Any
) -> QualitySpec:
    """A spec learned from a reference's :class:`QualityProfile` (counted without a spec:
    :class:`QualityProfiler` ``(columns=…, max_categories=…)``); see :func:`infer_quality_spec`."""
    rows = profile.rows
    if not rows:
        raise MonitoringInputError("the reference window is empty; nothing to learn a quality spec from")
    rules = [_learned_rule(facts, rows, missing_margin) for facts in profile.facts.values()]
    if "max_duplicate_rate" not in settings:
        if profile.duplicates is None:
            raise MonitoringInputError("the reference's duplicate rows were not counted (or pass max_duplicate_rate)")
        settings["max_duplicate_rate"] = min(1.0, profile.duplicates / rows + duplicate_margin)
    return QualitySpec(columns=rules, **settings)


def infer_quality_spec(
    reference: Any,
    *,
    columns: list[str] | None = None,
    missing_margin: float = 0.05,
    duplicate_margin: float = 0.01,
    max_categories: int = 50,
    **settings: Any,
) -> QualitySpec:
    """A spec learned from a reference window.

    Per column: its type; for numbers, the observed ``[min, max]`` as the allowed range;
    for strings, booleans and integers with at most ``max_categories`` distinct values, the
    observed values as categories; the allowed missing rate is the reference's plus
    ``missing_margin``; the allowed duplicate rate likewise with ``duplicate_margin``.
    Other settings (``allow_extra_columns``, ``max_out_of_range_rate``, …) pass through.
    """
    _frames.check_frame(reference, "reference")
    if not _frames.num_rows(reference):
        raise MonitoringInputError("the reference window is empty; nothing to learn a quality spec from")
    profiler = QualityProfiler(columns=columns, max_categories=max_categories)
    profiler.add(reference)
    duplicates = None if "max_duplicate_rate" in settings else _duplicates(reference)
    return infer_quality_spec_from_profile(
        profiler.result(duplicates), missing_margin=missing_margin, duplicate_margin=duplicate_margin, **settings
    )


__all__ = [
    "ColumnFacts",
    "ColumnRule",
    "QualityCheck",
    "QualityProfile",
    "QualityProfiler",
    "QualityReport",
    "QualitySpec",
    "check_quality",
    "check_quality_profile",
    "infer_quality_spec",
    "infer_quality_spec_from_profile",
    "quality_profile",
]
