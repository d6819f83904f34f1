"""Vectorised statistics on column profiles (pure functions; no pandas, no I/O).

Numeric two-sample statistics come from one merge of the two sorted samples: the gap
``F_ref - F_cur`` between the empirical CDFs after each merged value gives the KS statistic
(its largest absolute value at the end of each run of equal values) and the first
Wasserstein distance (its integral over the value axis). Because each side is already
sorted, the stable merge sort of their concatenation is a linear merge of two runs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shipyard.monitoring.profiles import CategoricalProfile, NumericProfile

FloatArray = NDArray[np.float64]
KS_EXACT_LIMIT = 10_000  # scipy's ks_2samp "auto": exact p-value when both samples are at most this big


def _steps(profile: NumericProfile, sign: float) -> FloatArray:
    total = float(profile.cumulative[-1])
    if profile.weights is None:
        return np.full(len(profile.values), sign / total)
    return profile.weights * (sign / total)


def cdf_gap(ref: NumericProfile, cur: NumericProfile) -> tuple[FloatArray, FloatArray, NDArray[np.bool_]]:
    """Merged sorted values, ``F_ref - F_cur`` after each, and a mask of run ends (last of equal values)."""
    values = np.concatenate([ref.values, cur.values])
    order = np.argsort(values, kind="stable")
    values = values[order]
    if ref.weights is None and cur.weights is None and len(ref.values) * len(cur.values) < 2**62:
        # integer steps (+m per reference row, -n per current row) keep the CDF gap exact
        n, m = len(ref.values), len(cur.values)
        counts = np.where(order < n, np.int64(m), np.int64(-n))
        gap = np.cumsum(counts) / float(n * m)
    else:
        gap = np.concatenate([_steps(ref, 1.0), _steps(cur, -1.0)])[order]
        np.cumsum(gap, out=gap)
    run_end = np.empty(len(values), dtype=bool)
    run_end[-1] = True
    np.not_equal(values[1:], values[:-1], out=run_end[:-1])
    return values, gap, run_end


def ks_statistic(gap: FloatArray, run_end: NDArray[np.bool_]) -> float:
    return float(np.abs(gap[run_end]).max())


def wasserstein(values: FloatArray, gap: FloatArray) -> float:
    """First Wasserstein distance: the integral of ``|F_ref - F_cur|``."""
    if len(values) < 2:
        return 0.0
    return float(np.dot(np.abs(gap[:-1]), np.diff(values)))


def ks_p_value(d: float, ref: NumericProfile, cur: NumericProfile) -> tuple[float, str]:
    """Two-sided p-value: exact (as ``scipy.stats.ks_2samp``'s "auto") for samples of at most
    10,000 rows, else Smirnov's asymptotic distribution (``kstwo``), as scipy does."""
    from scipy import stats

    n, m = ref.count, cur.count
    if max(n, m) <= KS_EXACT_LIMIT and ref.exact and cur.exact:
        result = stats.ks_2samp(ref.expanded(), cur.expanded(), method="auto")
        return float(result.pvalue), "exact"
    big, small = max(n, m), min(n, m)
    en = big * small / (big + small)
    return float(np.clip(stats.kstwo.sf(d, np.round(en)), 0.0, 1.0)), "asymptotic"


def cumulative_shares(profile: NumericProfile, edges: FloatArray, side: Any) -> FloatArray:
    """Shares of the column in the bins cut at ``edges`` (``side="right"``: bins ``(e_i, e_i+1]``)."""
    total = float(profile.cumulative[-1])
    cut = profile.rank(edges, side=side)
    bounds = np.concatenate(([0.0], cut, [total]))
    return np.diff(bounds) / total


def quantile_edges(ref: NumericProfile, bins: int) -> FloatArray:
    """Inner edges at the reference's ``k / bins`` quantiles (duplicates dropped)."""
    total = float(ref.cumulative[-1])
    targets = np.arange(1, bins) * (total / bins)
    index = np.minimum(np.searchsorted(ref.cumulative[1:], targets, side="right"), len(ref.values) - 1)
    return np.unique(ref.values[index])


def sturges_edges(ref: NumericProfile, cur: NumericProfile) -> FloatArray:
    """Inner edges of ``numpy.histogram_bin_edges(concat(ref, cur), "sturges")``."""
    n = ref.count + cur.count
    low = min(ref.low, cur.low)
    high = max(ref.high, cur.high)
    if high == low:
        return np.zeros(0)
    width = (high - low) / (math.log2(n) + 1.0)
    bins = math.ceil((high - low) / width)
    return np.linspace(low, high, bins + 1)[1:-1]


def psi(ref_shares: FloatArray, cur_shares: FloatArray, epsilon: float) -> float:
    """Population stability index; empty bins count as ``epsilon`` on either side."""
    p = np.where(ref_shares > 0, ref_shares, epsilon)
    q = np.where(cur_shares > 0, cur_shares, epsilon)
    return float(np.sum((p - q) * np.log(p / q)))


def jensen_shannon(ref_shares: FloatArray, cur_shares: FloatArray) -> float:
    """Jensen-Shannon *distance* with natural logarithms (as ``scipy.spatial.distance.jensenshannon``)."""
    p = ref_shares / ref_shares.sum()
    q = cur_shares / cur_shares.sum()
    m = (p + q) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log(p / m), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log(q / m), 0.0).sum()
    return float(np.sqrt(max((kl_p + kl_q) / 2.0, 0.0)))


def aligned_counts(ref: CategoricalProfile, cur: CategoricalProfile) -> tuple[list[Any], FloatArray, FloatArray]:
    """Counts of both sides over the union of their categories (reference's first)."""
    index: dict[Any, int] = {}
    for key in [*ref.keys, *cur.keys]:
        index.setdefault(key, len(index))
    ref_counts = np.zeros(len(index))
    cur_counts = np.zeros(len(index))
    ref_counts[[index[k] for k in ref.keys]] = ref.counts
    cur_counts[[index[k] for k in cur.keys]] = cur.counts
    return list(index), ref_counts, cur_counts


def chi_square(ref_counts: FloatArray, cur_counts: FloatArray) -> tuple[float, int, float]:
    """Chi-squared test of homogeneity on the 2 x k table (no continuity correction):
    ``(statistic, degrees of freedom, p-value)``, as ``scipy.stats.chi2_contingency(..., correction=False)``."""
    from scipy import stats

    table = np.vstack([ref_counts, cur_counts])
    table = table[:, table.sum(axis=0) > 0]
    dof = table.shape[1] - 1
    if dof < 1:
        return 0.0, 0, 1.0
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    statistic = float(((table - expected) ** 2 / expected).sum())
    return statistic, dof, float(stats.chi2.sf(statistic, dof))


def chi_square_goodness_of_fit(ref_counts: FloatArray, cur_counts: FloatArray) -> tuple[float, int, float]:
    """Current counts against the reference shares scaled to the current size, as
    ``scipy.stats.chisquare`` (Evidently's ``chisquare``). A category absent from the
    reference but present in the current window gives an infinite statistic, p = 0."""
    from scipy import stats

    dof = len(ref_counts) - 1
    if dof < 1:
        return 0.0, 0, 1.0
    expected = ref_counts * (cur_counts.sum() / ref_counts.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(expected > 0, (cur_counts - expected) ** 2 / expected, np.where(cur_counts > 0, np.inf, 0.0))
    statistic = float(terms.sum())
    return statistic, dof, float(stats.chi2.sf(statistic, dof))


def z_test(ref_counts: FloatArray, cur_counts: FloatArray) -> tuple[float, float]:
    """Two-proportion z-test (pooled) on the first category's share: ``(z, two-sided p)``."""
    from scipy import stats

    n1, n2 = float(ref_counts.sum()), float(cur_counts.sum())
    p1, p2 = ref_counts[0] / n1, cur_counts[0] / n2
    pooled = (ref_counts[0] + cur_counts[0]) / (n1 + n2)
    variance = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)
    if variance <= 0:
        return 0.0, 1.0  # one category on both sides: identical
    z = float((p1 - p2) / math.sqrt(variance))
    return z, float(2.0 * stats.norm.sf(abs(z)))


__all__ = [
    "aligned_counts",
    "cdf_gap",
    "chi_square",
    "chi_square_goodness_of_fit",
    "cumulative_shares",
    "jensen_shannon",
    "ks_p_value",
    "ks_statistic",
    "psi",
    "quantile_edges",
    "sturges_edges",
    "wasserstein",
    "z_test",
]
