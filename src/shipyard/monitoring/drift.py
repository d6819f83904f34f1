"""Drift between a reference window and a current window, per column and for the dataset.

Methods (``DriftSpec`` names; the first three compare numbers, the rest categories or
numbers as categories):

=================  =============================================  ==========  ==========================
method             statistic compared with the threshold          default     drift when
=================  =============================================  ==========  ==========================
``ks``             two-sample Kolmogorov-Smirnov p-value          0.05        p < threshold
``wasserstein``    W1 distance / max(std(reference), 0.001)       0.1         distance >= threshold
``psi``            population stability index                     0.1         psi >= threshold
``chisquare``      chi-squared homogeneity test p-value           0.05        p < threshold
``z``              two-proportion z-test p-value (two values)     0.05        p < threshold
``jensenshannon``  Jensen-Shannon distance (natural log)          0.1         distance >= threshold
=================  =============================================  ==========  ==========================

``auto`` (the default) follows Evidently's documented rule, so results are comparable:
with at most ``small_sample_limit`` (1,000) non-missing reference values, numeric columns
use ``ks`` and categorical ones ``chisquare`` (``z`` when the two windows hold at most two
distinct values); with more, numeric columns use ``wasserstein`` and categorical ones
``jensenshannon``. A numeric column with at most ``few_values_limit`` (5) distinct values
across both windows is compared as categories. The dataset drifts when the share of drifted
columns is at least ``drift_share`` (0.5).

Column kinds are declared (``DriftSpec.kinds``) or inferred: floats are numeric; strings,
booleans and pandas categoricals categorical; integers categorical when the reference has
at most ``integer_cardinality_limit`` (10) distinct values, else numeric.

Missing values (null, NaN, ±inf) are left out of every test and reported as missing rates.
A column with no value left on either side is a :class:`MonitoringInputError` naming it.

Entry points: :func:`detect_drift` (pandas DataFrame or pyarrow Table; exact, one column
in memory at a time beyond the inputs), :func:`detect_drift_parquet` (two Parquet files
read one column at a time: exact, memory of one column), :func:`compare_profiles` over
:func:`~shipyard.monitoring.profiles.profile_batches` (streaming, bounded memory; see
:mod:`shipyard.monitoring.profiles` for the accuracy), and :func:`detect_drift_by_slice`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from shipyard.monitoring import _frames, _stats
from shipyard.monitoring.errors import MonitoringInputError
from shipyard.monitoring.profiles import (
    CategoricalProfile,
    DatasetProfile,
    NumericProfile,
    Profile,
    profile_column,
)
from shipyard.monitoring.specs import (
    DEFAULT_THRESHOLDS,
    NUMERIC_ONLY,
    P_VALUE_METHODS,
    ColumnKind,
    DriftSpec,
    Method,
    MethodChoice,
    ScoreType,
)

STURGES_MIN_DISTINCT = 20  # jensenshannon/psi(sturges) on numbers: value counts up to this many distinct values


class ColumnDrift(BaseModel):
    """The verdict on one column."""

    column: str
    kind: ColumnKind
    method: Method
    score_type: ScoreType  # p_value: drift when below the threshold; distance: at or above it
    statistic: float
    threshold: float
    drifted: bool
    reference_size: int  # non-missing values compared
    current_size: int
    reference_missing_rate: float
    current_missing_rate: float
    details: dict[str, float | int | str] = Field(default_factory=dict)


class DriftReport(BaseModel):
    """Every compared column and the dataset-level verdict."""

    columns: list[ColumnDrift]
    number_of_columns: int
    number_of_drifted_columns: int
    share_of_drifted_columns: float
    drift_share: float
    dataset_drift: bool
    reference_rows: int
    current_rows: int

    def column(self, name: str) -> ColumnDrift:
        for result in self.columns:
            if result.column == name:
                return result
        raise KeyError(name)

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]


# --- one column -----------------------------------------------------------------------


def infer_kind(column: str, ref: Profile, spec: DriftSpec) -> ColumnKind:
    if column in spec.kinds:
        return spec.kinds[column]
    if isinstance(ref, CategoricalProfile):
        return "categorical"
    if ref.family == "int":
        distinct = ref.distinct()
        if distinct is not None and distinct <= spec.integer_cardinality_limit:
            return "categorical"
    return "numeric"


def _distinct_union(ref: Profile, cur: Profile, merged: np.ndarray | None) -> int:
    if isinstance(ref, CategoricalProfile) and isinstance(cur, CategoricalProfile):
        return len(set(ref.keys) | set(cur.keys))
    if merged is not None:
        return int(merged.sum())
    return 1 << 62  # a merged sketch: many


def _choose(
    column: str, kind: ColumnKind, ref: Profile, cur: Profile, spec: DriftSpec, distinct: Callable[[], int]
) -> Method:
    choice = spec.column_methods.get(column) or (spec.numeric_method if kind == "numeric" else spec.categorical_method)
    if choice != "auto":
        if kind == "categorical" and choice in NUMERIC_ONLY:
            raise MonitoringInputError(f"column {column!r} is categorical; {choice} compares numbers", column)
        return choice
    values = distinct()
    small = ref.count <= spec.small_sample_limit
    if kind == "categorical" or values <= spec.few_values_limit:
        if small:
            return "z" if values <= 2 else "chisquare"
        return "jensenshannon"
    return "ks" if small else "wasserstein"


def _numeric_pair(ref: Profile, cur: Profile) -> tuple[NumericProfile, NumericProfile]:
    if not (isinstance(ref, NumericProfile) and isinstance(cur, NumericProfile)):
        raise TypeError("a numeric method needs numeric profiles")  # the callers check the kind first
    return ref, cur


def _as_categories(column: str, profile: Profile) -> CategoricalProfile:
    if isinstance(profile, CategoricalProfile):
        return profile
    keys, counts = profile.value_counts(column)
    return CategoricalProfile(keys=keys, counts=counts, missing=profile.missing, family=profile.family)


def _categorical_shares(column: str, ref: Profile, cur: Profile) -> tuple[np.ndarray, np.ndarray, int]:
    _, ref_counts, cur_counts = _stats.aligned_counts(_as_categories(column, ref), _as_categories(column, cur))
    return ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum(), len(ref_counts)


def compare_column(column: str, ref: Profile, cur: Profile, spec: DriftSpec) -> ColumnDrift:
    """Drift of one column from its two profiles."""
    ref_rows, cur_rows = ref.count + ref.missing, cur.count + cur.missing
    for side, profile in (("reference", ref), ("current", cur)):
        if profile.count == 0:
            raise MonitoringInputError(
                f"column {column!r} has no non-missing value in the {side} window; "
                "it cannot be compared (leave it out of the spec's columns)",
                column,
                window=side,
            )
    kind = infer_kind(column, ref, spec)
    if kind == "numeric" and not (isinstance(ref, NumericProfile) and isinstance(cur, NumericProfile)):
        raise MonitoringInputError(f"column {column!r} is declared numeric but does not hold numbers", column)

    merged: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def merge() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        nonlocal merged
        if merged is None:
            merged = _stats.cdf_gap(*_numeric_pair(ref, cur))
        return merged

    def distinct() -> int:
        if isinstance(ref, NumericProfile) and isinstance(cur, NumericProfile):
            if ref.exact and cur.exact:
                return _distinct_union(ref, cur, merge()[2])
            return _distinct_union(ref, cur, None)
        return len(set(_as_categories(column, ref).keys) | set(_as_categories(column, cur).keys))

    method = _choose(column, kind, ref, cur, spec, distinct)
    threshold = spec.threshold_for(column, method)
    details: dict[str, float | int | str] = {}

    if method in NUMERIC_ONLY:
        ref, cur = _numeric_pair(ref, cur)
        values, gap, run_end = merge()
        if method == "ks":
            d = _stats.ks_statistic(gap, run_end)
            statistic, mode = _stats.ks_p_value(d, ref, cur)
            details.update(ks_statistic=d, p_value_method=mode)
        else:
            norm = max(ref.std, 0.001)
            distance = _stats.wasserstein(values, gap)
            statistic = distance / norm
            details.update(wasserstein_distance=distance, reference_std=ref.std)
    elif method in ("psi", "jensenshannon"):
        numeric_bins = (
            isinstance(ref, NumericProfile)
            and isinstance(cur, NumericProfile)
            and kind == "numeric"
            and (method == "psi" or (ref.distinct() or STURGES_MIN_DISTINCT + 1) > STURGES_MIN_DISTINCT)
        )
        if numeric_bins:
            ref, cur = _numeric_pair(ref, cur)
            if method == "psi" and spec.psi_binning == "quantile":
                edges, side, binning = _stats.quantile_edges(ref, spec.psi_bins), "right", "reference quantiles"
            else:
                edges, side, binning = _stats.sturges_edges(ref, cur), "left", "sturges"
            p = _stats.cumulative_shares(ref, edges, side)
            q = _stats.cumulative_shares(cur, edges, side)
            bins = len(p)
        else:
            p, q, bins = _categorical_shares(column, ref, cur)
            binning = "categories"
        if method == "psi":
            statistic = _stats.psi(p, q, spec.psi_epsilon)
            details.update(epsilon=spec.psi_epsilon)
        else:
            statistic = _stats.jensen_shannon(p, q)
        details.update(bins=bins, binning=binning)
    else:  # chisquare, z
        names, ref_counts, cur_counts = _stats.aligned_counts(_as_categories(column, ref), _as_categories(column, cur))
        if method == "chisquare":
            if spec.chisquare_test == "homogeneity":
                chi2, dof, statistic = _stats.chi_square(ref_counts, cur_counts)
            else:
                chi2, dof, statistic = _stats.chi_square_goodness_of_fit(ref_counts, cur_counts)
            details.update(chi2=chi2, dof=dof, test=spec.chisquare_test)
        else:
            if len(names) > 2:
                raise MonitoringInputError(
                    f"column {column!r} holds {len(names)} distinct values; the z-test compares two", column
                )
            z, statistic = _stats.z_test(ref_counts, cur_counts)
            details.update(z=z)
        details.update(categories=len(names))

    score_type: ScoreType = "p_value" if method in P_VALUE_METHODS else "distance"
    drifted = statistic < threshold if score_type == "p_value" else statistic >= threshold
    if not (ref.exact if isinstance(ref, NumericProfile) else True) or not (
        cur.exact if isinstance(cur, NumericProfile) else True
    ):
        details.update(approximate="sketch")
    return ColumnDrift(
        column=column,
        kind=kind,
        method=method,
        score_type=score_type,
        statistic=float(statistic),
        threshold=threshold,
        drifted=bool(drifted),
        reference_size=ref.count,
        current_size=cur.count,
        reference_missing_rate=ref.missing / ref_rows if ref_rows else 0.0,
        current_missing_rate=cur.missing / cur_rows if cur_rows else 0.0,
        details=details,
    )


# --- whole windows --------------------------------------------------------------------


def _report(results: list[ColumnDrift], spec: DriftSpec, reference_rows: int, current_rows: int) -> DriftReport:
    if not results:
        raise MonitoringInputError("no column to compare", None)
    drifted = sum(r.drifted for r in results)
    share = drifted / len(results)
    return DriftReport(
        columns=results,
        number_of_columns=len(results),
        number_of_drifted_columns=drifted,
        share_of_drifted_columns=share,
        drift_share=spec.drift_share,
        dataset_drift=share >= spec.drift_share,
        reference_rows=reference_rows,
        current_rows=current_rows,
    )


def _columns(spec: DriftSpec, reference: list[str], current: list[str]) -> list[str]:
    names = spec.columns if spec.columns is not None else reference
    for name in names:
        if name not in reference:
            raise MonitoringInputError(f"column {name!r} is not in the reference data", name, window="reference")
        if name not in current:
            raise MonitoringInputError(f"column {name!r} is not in the current data", name, window="current")
    return list(names)


def _run(profiles: Iterator[tuple[str, Profile, Profile]], spec: DriftSpec, rows: tuple[int, int]) -> DriftReport:
    results = [compare_column(name, ref, cur, spec) for name, ref, cur in profiles]
    return _report(results, spec, *rows)


def detect_drift(reference: Any, current: Any, spec: DriftSpec | None = None) -> DriftReport:
    """Compare two in-memory windows (pandas DataFrames or pyarrow Tables), column by column.

    Exact: each numeric column is sorted once per window and every statistic is read from
    the sorted arrays; categorical columns are counted. Only one column's profiles are held
    at a time beyond the inputs.
    """
    spec = spec or DriftSpec()
    _frames.check_frame(reference, "reference")
    _frames.check_frame(current, "current")
    names = _columns(spec, _frames.column_names(reference), _frames.column_names(current))

    def profiles() -> Iterator[tuple[str, Profile, Profile]]:
        for name in names:
            yield name, profile_column(reference, name), profile_column(current, name)

    return _run(profiles(), spec, (_frames.num_rows(reference), _frames.num_rows(current)))


def detect_drift_parquet(reference: str | Path, current: str | Path, spec: DriftSpec | None = None) -> DriftReport:
    """Compare two Parquet files reading one column of each at a time: exact, with the
    memory of one column per window (Parquet is columnar, so nothing else is decoded)."""
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    spec = spec or DriftSpec()
    ref_file, cur_file = pq.ParquetFile(reference), pq.ParquetFile(current)
    names = _columns(spec, list(ref_file.schema_arrow.names), list(cur_file.schema_arrow.names))

    def profiles() -> Iterator[tuple[str, Profile, Profile]]:
        for name in names:
            ref = profile_column(ref_file.read(columns=[name]), name)
            cur = profile_column(cur_file.read(columns=[name]), name)
            yield name, ref, cur

    rows = (int(ref_file.metadata.num_rows), int(cur_file.metadata.num_rows))
    return _run(profiles(), spec, rows)


def compare_profiles(reference: DatasetProfile, current: DatasetProfile, spec: DriftSpec | None = None) -> DriftReport:
    """Compare two windows from their profiles (e.g. built by
    :func:`~shipyard.monitoring.profiles.profile_batches` over data larger than memory)."""
    spec = spec or DriftSpec()
    names = _columns(spec, list(reference.columns), list(current.columns))
    profiles = ((name, reference.columns[name], current.columns[name]) for name in names)
    return _run(profiles, spec, (reference.rows, current.rows))


def detect_drift_by_slice(
    reference: Any, current: Any, by: str, spec: DriftSpec | None = None, *, min_rows: int = 1
) -> dict[str, DriftReport]:
    """One drift report per value of column ``by`` (a slice), over the other columns.

    Slices with fewer than ``min_rows`` rows in either window are left out; a value seen
    only in the current window is a change of ``by`` itself, which :func:`detect_drift` on
    that column reports. The method choice (small or large sample) follows each slice's size.
    """
    spec = spec or DriftSpec()
    for what, data in (("reference", reference), ("current", current)):
        _frames.check_frame(data, what)
        if by not in _frames.column_names(data):
            raise MonitoringInputError(f"slice column {by!r} is not in the {what} data", by, window=what)
    columns = [c for c in (spec.columns or _frames.column_names(reference)) if c != by]
    sliced = spec.model_copy(update={"columns": columns})
    ref_keys, cur_keys = _frames.keys_of(reference, by), _frames.keys_of(current, by)
    reports: dict[str, DriftReport] = {}
    for value in dict.fromkeys(k for k in ref_keys.tolist() if k is not None):
        ref_mask, cur_mask = ref_keys == value, cur_keys == value
        if int(ref_mask.sum()) < min_rows or int(cur_mask.sum()) < min_rows or not cur_mask.any():
            continue
        reports[str(value)] = detect_drift(
            _frames.select_rows(reference, ref_mask), _frames.select_rows(current, cur_mask), sliced
        )
    return reports


__all__ = [
    "DEFAULT_THRESHOLDS",
    "ColumnDrift",
    "ColumnKind",
    "DriftReport",
    "DriftSpec",
    "Method",
    "MethodChoice",
    "compare_column",
    "compare_profiles",
    "detect_drift",
    "detect_drift_by_slice",
    "detect_drift_parquet",
    "infer_kind",
]
