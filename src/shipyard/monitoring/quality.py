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
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from shipyard.models.signature import NUMERIC_TYPES, values_type
from shipyard.monitoring import _frames
from shipyard.monitoring.errors import MonitoringInputError
from shipyard.monitoring.specs import ColumnRule, QualitySpec

CheckName = Literal["missing_column", "extra_column", "type", "missing", "out_of_range", "unseen", "duplicates"]
MAX_LISTED = 20  # unseen values listed in a check's details


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


def _conforms(expected: str, actual: str, data: Any, name: str) -> bool:
    want, have = _family(expected), _family(actual)
    if want in ("object", have):
        return True
    if want == "float" and have in ("int", "bool"):
        return True
    if want == "int" and have == "float":
        values = _frames.numbers(data, name)
        values = values[np.isfinite(values)]
        return bool(np.all(values == np.round(values)))
    return False


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


def _column_checks(data: Any, rule: ColumnRule, spec: QualitySpec, rows: int) -> list[QualityCheck]:
    name = rule.name
    checks: list[QualityCheck] = []
    actual = actual_type(data, name)
    if rule.type is not None:
        ok = _conforms(rule.type, actual, data, name)
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
    numeric = _family(actual) in ("int", "float", "bool") or actual in NUMERIC_TYPES
    if numeric and rule.categories is None:
        values = _frames.numbers(data, name)
        missing_mask = np.isnan(values)
        missing = int(missing_mask.sum())
        present = values[~missing_mask]
    else:
        keys, counts, missing = _frames.value_counts(data, name)
        present = None
    threshold = rule.max_missing_rate if rule.max_missing_rate is not None else spec.max_missing_rate
    checks.append(_check("missing", name, missing, rows, threshold, f"{name}: {missing} of {rows} rows missing"))
    if rule.minimum is not None or rule.maximum is not None:
        if present is None:
            if not numeric:
                raise MonitoringInputError(f"column {name!r} has a range but does not hold numbers", name)
            values = _frames.numbers(data, name)
            present = values[~np.isnan(values)]
        low = -np.inf if rule.minimum is None else rule.minimum
        high = np.inf if rule.maximum is None else rule.maximum
        outside = int(np.count_nonzero((present < low) | (present > high)))
        threshold = rule.max_out_of_range_rate if rule.max_out_of_range_rate is not None else spec.max_out_of_range_rate
        checks.append(
            _check(
                "out_of_range",
                name,
                outside,
                len(present),
                threshold,
                f"{name}: {outside} of {len(present)} values outside [{low}, {high}]",
                minimum=rule.minimum,
                maximum=rule.maximum,
                observed_min=float(present.min()) if len(present) else None,
                observed_max=float(present.max()) if len(present) else None,
            )
        )
    if rule.categories is not None:
        allowed = set(rule.categories)
        unseen_keys = [k for k in keys if k not in allowed]
        unseen_mask = np.array([k not in allowed for k in keys], dtype=bool)
        unseen = int(counts[unseen_mask].sum()) if len(keys) else 0
        total = int(counts.sum())
        threshold = rule.max_unseen_rate if rule.max_unseen_rate is not None else spec.max_unseen_rate
        checks.append(
            _check(
                "unseen",
                name,
                unseen,
                total,
                threshold,
                f"{name}: {unseen} of {total} values not among the {len(allowed)} known categories",
                unseen_values=[str(k) for k in unseen_keys[:MAX_LISTED]],
                unseen_distinct=len(unseen_keys),
            )
        )
    return checks


def check_quality(data: Any, spec: QualitySpec) -> QualityReport:
    """Run every check of ``spec`` on one window (a pandas DataFrame or a pyarrow Table)."""
    _frames.check_frame(data, "data")
    rows = _frames.num_rows(data)
    present = _frames.column_names(data)
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
        checks.extend(_column_checks(data, rule, spec, rows))
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
        duplicates = _duplicates(data)
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
    rows = _frames.num_rows(reference)
    if not rows:
        raise MonitoringInputError("the reference window is empty; nothing to learn a quality spec from")
    names = columns if columns is not None else _frames.column_names(reference)
    rules: list[ColumnRule] = []
    for name in names:
        if name not in _frames.column_names(reference):
            raise MonitoringInputError(f"column {name!r} is not in the reference data", name)
        kind = actual_type(reference, name)
        fam = _frames.family(reference, name)
        rule: dict[str, Any] = {"name": name, "type": kind}
        if fam in ("string", "bool", "int", "other"):
            keys, _, missing = _frames.value_counts(reference, name)
            if len(keys) <= max_categories and all(isinstance(k, bool | int | float | str) for k in keys):
                rule["categories"] = keys
            elif fam == "int":
                values = _frames.numbers(reference, name)
                rule.update(minimum=float(np.nanmin(values)), maximum=float(np.nanmax(values)))
        else:
            values = _frames.numbers(reference, name) if fam == "float" else np.zeros(0)
            finite = values[np.isfinite(values)]
            missing = int(np.isnan(values).sum()) if fam == "float" else _frames.value_counts(reference, name)[2]
            if len(finite):
                rule.update(minimum=float(finite.min()), maximum=float(finite.max()))
        rule["max_missing_rate"] = min(1.0, missing / rows + missing_margin)
        rules.append(ColumnRule(**rule))
    if "max_duplicate_rate" not in settings:
        settings["max_duplicate_rate"] = min(1.0, _duplicates(reference) / rows + duplicate_margin)
    return QualitySpec(columns=rules, **settings)


__all__ = [
    "ColumnRule",
    "QualityCheck",
    "QualityReport",
    "QualitySpec",
    "check_quality",
    "infer_quality_spec",
]
