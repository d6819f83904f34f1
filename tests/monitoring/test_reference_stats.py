"""Every statistic against its scipy reference implementation on random data."""

from __future__ import annotations

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from shipyard.monitoring import DriftSpec, detect_drift


def _one(ref: object, cur: object, **spec: object) -> dict:
    report = detect_drift(pa.table({"x": ref}), pa.table({"x": cur}), DriftSpec.model_validate(spec))
    return report.columns[0].model_dump()


@pytest.mark.parametrize(("n", "m"), [(50, 80), (700, 300), (3000, 2500), (20_000, 15_000)])
def test_ks_matches_scipy(n: int, m: int) -> None:
    rng = np.random.default_rng(n)
    ref, cur = rng.normal(size=n), rng.normal(0.05, 1.1, size=m)
    ref[:5] = cur[:5]  # ties across the windows
    result = _one(ref, cur, numeric_method="ks")
    expected = stats.ks_2samp(ref, cur)  # method "auto": exact up to 10,000, asymptotic beyond
    assert result["details"]["ks_statistic"] == pytest.approx(expected.statistic, abs=1e-12)
    assert result["statistic"] == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
    assert result["details"]["p_value_method"] == ("exact" if max(n, m) <= 10_000 else "asymptotic")


def test_ks_on_integers_with_many_ties() -> None:
    rng = np.random.default_rng(3)
    ref, cur = rng.integers(0, 30, 5000).astype(float), rng.integers(0, 31, 4000).astype(float)
    result = _one(ref, cur, numeric_method="ks")
    expected = stats.ks_2samp(ref, cur)
    assert result["details"]["ks_statistic"] == pytest.approx(expected.statistic, abs=1e-12)
    assert result["statistic"] == pytest.approx(expected.pvalue, rel=1e-9)


@pytest.mark.parametrize(("n", "m"), [(40, 60), (5000, 7000), (200_000, 150_000)])
def test_normed_wasserstein_matches_scipy(n: int, m: int) -> None:
    rng = np.random.default_rng(m)
    ref, cur = rng.lognormal(size=n), rng.lognormal(0.1, size=m)
    result = _one(ref, cur, numeric_method="wasserstein")
    expected = stats.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001)
    assert result["statistic"] == pytest.approx(expected, rel=1e-9)


def test_psi_matches_a_direct_computation() -> None:
    rng = np.random.default_rng(5)
    ref, cur = rng.normal(size=10_000), rng.normal(0.3, size=8_000)
    result = _one(ref, cur, numeric_method="psi")
    ordered = np.sort(ref)
    edges = ordered[(np.arange(1, 10) * len(ref)) // 10]
    p = np.diff(np.concatenate(([0], np.searchsorted(ordered, edges, side="right"), [len(ref)]))) / len(ref)
    q = np.histogram(cur, np.concatenate(([-np.inf], edges, [np.inf])))[0] / len(cur)
    expected = float(np.sum((p - q) * np.log(p / q)))
    assert result["statistic"] == pytest.approx(expected, rel=1e-9)
    assert result["details"]["bins"] == 10


def test_psi_sturges_matches_evidentlys_binning() -> None:
    rng = np.random.default_rng(6)
    ref, cur = rng.normal(size=3000), rng.normal(0.2, size=2000)
    result = _one(ref, cur, numeric_method="psi", psi_binning="sturges")
    bins = np.histogram_bin_edges(np.concatenate([ref, cur]), "sturges")
    p = np.histogram(ref, bins)[0] / len(ref)
    q = np.histogram(cur, bins)[0] / len(cur)
    p, q = np.where(p == 0, 1e-4, p), np.where(q == 0, 1e-4, q)
    assert result["statistic"] == pytest.approx(float(np.sum((p - q) * np.log(p / q))), rel=1e-9)


def test_numeric_jensenshannon_uses_sturges_bins_like_evidently() -> None:
    rng = np.random.default_rng(7)
    ref, cur = rng.normal(size=3000), rng.normal(0.2, size=2000)
    result = _one(ref, cur, numeric_method="jensenshannon")
    bins = np.histogram_bin_edges(np.concatenate([ref, cur]), "sturges")
    expected = jensenshannon(np.histogram(ref, bins)[0] / len(ref), np.histogram(cur, bins)[0] / len(cur))
    assert result["statistic"] == pytest.approx(expected, rel=1e-9)
    assert result["details"]["binning"] == "sturges"


def _categories(rng: np.random.Generator, n: int, p: list[float]) -> np.ndarray:
    return rng.choice(np.array([f"c{i}" for i in range(len(p))]), size=n, p=p)


def _table(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    keys = sorted(set(ref) | set(cur))
    return np.array([[np.sum(ref == k) for k in keys], [np.sum(cur == k) for k in keys]])


@pytest.mark.parametrize("k", [2, 3, 7])
def test_chi_square_matches_chi2_contingency(k: int) -> None:
    rng = np.random.default_rng(k)
    p = list(np.linspace(1, 2, k) / np.linspace(1, 2, k).sum())
    ref, cur = _categories(rng, 900, p), _categories(rng, 700, p[::-1])
    result = _one(ref, cur, categorical_method="chisquare")
    chi2, p_value, dof, _ = stats.chi2_contingency(_table(ref, cur), correction=False)
    assert result["statistic"] == pytest.approx(p_value, rel=1e-9)
    assert result["details"]["chi2"] == pytest.approx(chi2, rel=1e-9)
    assert result["details"]["dof"] == dof


def test_chi_square_goodness_of_fit_matches_scipy_chisquare() -> None:
    rng = np.random.default_rng(11)
    ref, cur = _categories(rng, 900, [0.5, 0.3, 0.2]), _categories(rng, 600, [0.45, 0.35, 0.2])
    result = _one(ref, cur, categorical_method="chisquare", chisquare_test="goodness_of_fit")
    table = _table(ref, cur)
    expected = stats.chisquare(table[1], table[0] * (len(cur) / len(ref)))
    assert result["statistic"] == pytest.approx(expected.pvalue, rel=1e-9)


def test_z_test_equals_the_2x2_chi_square() -> None:
    rng = np.random.default_rng(12)
    ref, cur = _categories(rng, 400, [0.6, 0.4]), _categories(rng, 500, [0.5, 0.5])
    result = _one(ref, cur)
    assert result["method"] == "z"
    _, p_value, _, _ = stats.chi2_contingency(_table(ref, cur), correction=False)
    assert result["statistic"] == pytest.approx(p_value, rel=1e-9)  # z^2 is the 2x2 chi-squared statistic


def test_jensenshannon_matches_scipy_with_a_category_on_one_side_only() -> None:
    rng = np.random.default_rng(13)
    ref, cur = _categories(rng, 5000, [0.5, 0.3, 0.2]), _categories(rng, 4000, [0.4, 0.3, 0.2, 0.1])
    result = _one(ref, cur)
    assert result["method"] == "jensenshannon"
    table = _table(ref, cur)
    expected = jensenshannon(table[0] / table[0].sum(), table[1] / table[1].sum())
    assert result["statistic"] == pytest.approx(expected, rel=1e-9)
