"""Methods, thresholds, kinds and the edge cases of the drift engine."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pytest
from pydantic import ValidationError

from shipyard.errors import InvalidArgument
from shipyard.monitoring import (
    DEFAULT_THRESHOLDS,
    DriftSpec,
    MonitoringInputError,
    detect_drift,
    detect_drift_by_slice,
)

METHODS_BY_KIND = {
    "numeric": ["ks", "wasserstein", "psi", "jensenshannon", "chisquare"],
    "categorical": ["psi", "jensenshannon", "chisquare"],
}


def _frames(n: int = 2000, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(["a", "b", "c"], n)})
    cur = pd.DataFrame({"x": rng.normal(1.0, size=n), "c": rng.choice(["a", "b", "c"], n, p=[0.6, 0.2, 0.2])})
    return ref, cur


def test_defaults_are_evidentlys() -> None:
    spec = DriftSpec()
    assert DEFAULT_THRESHOLDS == {
        "ks": 0.05,
        "wasserstein": 0.1,
        "psi": 0.1,
        "chisquare": 0.05,
        "z": 0.05,
        "jensenshannon": 0.1,
    }
    assert (spec.small_sample_limit, spec.few_values_limit, spec.integer_cardinality_limit) == (1000, 5, 10)
    assert spec.drift_share == 0.5


@pytest.mark.parametrize(("kind", "method"), [(k, m) for k, ms in METHODS_BY_KIND.items() for m in ms])
def test_every_method_is_selectable(kind: str, method: Any) -> None:
    ref, cur = _frames(n=1500)
    if kind == "numeric" and method == "chisquare":  # numbers compared as categories
        ref, cur = ref.assign(x=ref.x.round()), cur.assign(x=cur.x.round())
    column = "x" if kind == "numeric" else "c"
    report = detect_drift(ref, cur, DriftSpec(columns=[column], column_methods={column: method}))
    result = report.column(column)
    assert result.method == method
    assert result.threshold == DEFAULT_THRESHOLDS[method]
    assert result.drifted
    assert result.score_type == ("p_value" if method in ("ks", "chisquare", "z") else "distance")


def test_numeric_and_categorical_defaults_apply_by_kind() -> None:
    ref, cur = _frames()
    report = detect_drift(ref, cur, DriftSpec(numeric_method="psi", categorical_method="chisquare"))
    assert [(c.column, c.method) for c in report.columns] == [("x", "psi"), ("c", "chisquare")]


def test_z_test_on_a_binary_column_and_refused_beyond_two_values() -> None:
    ref, cur = _frames()
    binary = DriftSpec(columns=["b"], column_methods={"b": "z"})
    report = detect_drift(ref.assign(b=ref.c == "a"), cur.assign(b=cur.c == "a"), binary)
    assert report.column("b").method == "z"
    assert report.column("b").drifted
    with pytest.raises(MonitoringInputError, match=r"'c'.*z-test compares two"):
        detect_drift(ref, cur, DriftSpec(columns=["c"], column_methods={"c": "z"}))


def test_numeric_method_on_a_categorical_column_is_refused() -> None:
    ref, cur = _frames()
    with pytest.raises(MonitoringInputError, match=r"'c' is categorical; ks compares numbers"):
        detect_drift(ref, cur, DriftSpec(column_methods={"c": "ks"}))


def test_thresholds_are_honoured_per_method_and_per_column() -> None:
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"x": rng.normal(size=5000), "y": rng.normal(size=5000)})
    cur = pd.DataFrame({"x": rng.normal(0.15, size=5000), "y": rng.normal(0.15, size=5000)})
    default = detect_drift(ref, cur)
    assert default.drifted_columns == ["x", "y"]  # ~0.15 >= 0.1
    statistic = default.column("x").statistic
    raised = detect_drift(ref, cur, DriftSpec(thresholds={"wasserstein": statistic + 1e-9}))
    assert raised.column("x").threshold == statistic + 1e-9
    assert not raised.column("x").drifted
    at = detect_drift(ref, cur, DriftSpec(column_thresholds={"x": statistic}))
    assert at.column("x").drifted  # a distance drifts at the threshold itself
    per_column = detect_drift(ref, cur, DriftSpec(column_thresholds={"y": 0.5}))
    assert per_column.drifted_columns == ["x"]


def test_p_value_threshold_semantics() -> None:
    ref, cur = _frames(n=500)
    report = detect_drift(ref, cur, DriftSpec(columns=["x"]))
    p = report.column("x").statistic
    assert report.column("x").method == "ks"
    assert not detect_drift(ref, cur, DriftSpec(columns=["x"], thresholds={"ks": p})).column("x").drifted
    assert detect_drift(ref, cur, DriftSpec(columns=["x"], thresholds={"ks": p * 1.01})).column("x").drifted


def test_invalid_thresholds_are_refused() -> None:
    with pytest.raises(ValidationError, match="ks compares a p-value"):
        DriftSpec(thresholds={"ks": 1.5})
    with pytest.raises(ValidationError, match="must be > 0"):
        DriftSpec(thresholds={"psi": 0.0})
    with pytest.raises(ValidationError):
        DriftSpec(drift_share=0)
    ref, cur = _frames(n=300)
    with pytest.raises(ValueError, match="ks compares a p-value"):
        detect_drift(ref, cur, DriftSpec(column_thresholds={"x": 2.0}))


def test_dataset_drift_share() -> None:
    ref, cur = _frames()
    ref, cur = ref.assign(z=ref.x * 0), cur.assign(z=cur.x * 0)  # a third, constant column: no drift
    report = detect_drift(ref, cur)
    assert (report.number_of_columns, report.number_of_drifted_columns) == (3, 2)
    assert report.share_of_drifted_columns == pytest.approx(2 / 3)
    assert report.dataset_drift
    assert not detect_drift(ref, cur, DriftSpec(drift_share=0.7)).dataset_drift


def test_kinds_inferred_and_declared() -> None:
    rng = np.random.default_rng(2)
    n = 3000
    ref = pd.DataFrame(
        {
            "small_int": rng.integers(0, 8, n),
            "wide_int": rng.integers(0, 1000, n),
            "flag": rng.random(n) < 0.3,
            "cat": pd.Categorical(rng.choice(["u", "v"], n)),
        }
    )
    report = detect_drift(ref, ref.copy())
    kinds = {c.column: (c.kind, c.method) for c in report.columns}
    assert kinds == {
        "small_int": ("categorical", "jensenshannon"),
        "wide_int": ("numeric", "wasserstein"),
        "flag": ("categorical", "jensenshannon"),
        "cat": ("categorical", "jensenshannon"),
    }
    declared = detect_drift(ref, ref.copy(), DriftSpec(kinds={"small_int": "numeric", "wide_int": "categorical"}))
    assert declared.column("small_int").kind == "numeric"
    assert declared.column("wide_int").kind == "categorical"
    with pytest.raises(MonitoringInputError, match="'cat' is declared numeric"):
        detect_drift(ref, ref.copy(), DriftSpec(kinds={"cat": "numeric"}))


def test_numbers_with_few_values_are_compared_as_categories() -> None:
    rng = np.random.default_rng(4)
    ref = pd.DataFrame({"x": rng.choice([0.5, 1.5, 2.5, 3.5], 600)})
    cur = pd.DataFrame({"x": rng.choice([0.5, 1.5, 2.5, 3.5], 600)})
    assert detect_drift(ref, cur).column("x").method == "chisquare"
    assert detect_drift(pd.concat([ref] * 3), pd.concat([cur] * 3)).column("x").method == "jensenshannon"


# --- edge cases --------------------------------------------------------------------------------------


def test_constant_columns() -> None:
    same = detect_drift(pd.DataFrame({"x": [3.0] * 2000}), pd.DataFrame({"x": [3.0] * 1500}))
    assert same.column("x").method == "jensenshannon"  # one value: compared as categories
    assert same.column("x").statistic == 0.0
    assert not same.column("x").drifted
    forced = detect_drift(
        pd.DataFrame({"x": [3.0] * 2000}), pd.DataFrame({"x": [3.0] * 1500}), DriftSpec(numeric_method="wasserstein")
    )
    assert forced.column("x").statistic == 0.0  # normalised by max(std, 0.001), no division by zero
    moved = detect_drift(pd.DataFrame({"x": [3.0] * 500}), pd.DataFrame({"x": [4.0] * 500}))
    assert moved.column("x").method == "z"
    assert moved.column("x").drifted


def test_missing_values_are_excluded_and_reported() -> None:
    rng = np.random.default_rng(8)
    ref = rng.normal(size=4000)
    cur = rng.normal(size=4000)
    cur[:1000] = np.nan
    cur[1000:1010] = np.inf
    report = detect_drift(pa.table({"x": ref}), pa.table({"x": pa.array(cur, from_pandas=True)}))
    result = report.column("x")
    assert result.current_size == 2990
    assert result.current_missing_rate == pytest.approx(1010 / 4000)
    assert not result.drifted
    nulls = pa.table({"c": pa.array(["a", None, "b", "a"] * 300)})
    cat = detect_drift(nulls, nulls).column("c")
    assert (cat.reference_size, cat.reference_missing_rate) == (900, 0.25)


@pytest.mark.parametrize("side", ["reference", "current"])
def test_all_missing_column_is_a_value_error_naming_it(side: str) -> None:
    good = pd.DataFrame({"ok": np.arange(10.0), "empty": np.arange(10.0)})
    bad = pd.DataFrame({"ok": np.arange(10.0), "empty": [np.nan] * 10})
    ref, cur = (bad, good) if side == "reference" else (good, bad)
    with pytest.raises(ValueError, match=f"'empty' has no non-missing value in the {side} window") as caught:
        detect_drift(ref, cur)
    assert isinstance(caught.value, InvalidArgument)
    assert caught.value.details == {"column": "empty", "window": side}


def test_empty_windows_and_missing_columns() -> None:
    empty = pd.DataFrame({"x": np.zeros(0)})
    with pytest.raises(MonitoringInputError, match="'x' has no non-missing value"):
        detect_drift(empty, pd.DataFrame({"x": [1.0]}))
    with pytest.raises(MonitoringInputError, match="'y' is not in the current data"):
        detect_drift(pd.DataFrame({"x": [1.0], "y": [1.0]}), pd.DataFrame({"x": [1.0]}))
    with pytest.raises(MonitoringInputError, match="pandas DataFrame or a pyarrow Table"):
        detect_drift([1, 2], pd.DataFrame({"x": [1.0]}))
    when = pd.DataFrame({"t": pd.date_range("2026-01-01", periods=3)})
    with pytest.raises(MonitoringInputError, match="dates or times"):
        detect_drift(when, when)


def test_unseen_categories_only_in_current() -> None:
    ref = pd.DataFrame({"c": ["a", "b"] * 300})
    cur = pd.DataFrame({"c": ["x", "y", "z"] * 200})  # no category in common
    report = detect_drift(ref, cur)
    assert report.column("c").method == "chisquare"
    assert report.column("c").statistic < 1e-100
    large = detect_drift(pd.concat([ref] * 4), pd.concat([cur] * 4)).column("c")
    assert large.statistic == pytest.approx(np.sqrt(np.log(2)))  # disjoint supports: the maximum distance
    psi = detect_drift(ref, cur, DriftSpec(categorical_method="psi")).column("c")
    assert np.isfinite(psi.statistic)
    assert psi.details == {"epsilon": 1e-4, "bins": 5, "binning": "categories"}


def test_psi_empty_bins_use_the_documented_epsilon() -> None:
    ref = pd.DataFrame({"x": np.linspace(0, 1, 1000)})
    cur = pd.DataFrame({"x": np.linspace(0, 0.1, 1000)})  # every current value in the first reference decile
    report = detect_drift(ref, cur, DriftSpec(numeric_method="psi"))
    edges = np.sort(ref.x)[np.arange(1, 10) * 100]

    def shares(values: np.ndarray) -> np.ndarray:  # right-closed bins (e_i, e_i+1]
        cut = np.searchsorted(np.sort(values), edges, side="right")
        return np.diff(np.concatenate(([0], cut, [len(values)]))) / len(values)

    p, q = shares(ref.x.to_numpy()), shares(cur.x.to_numpy())
    assert (q == 0).sum() == 9  # nine empty current bins
    q = np.where(q == 0, 1e-4, q)
    assert report.column("x").statistic == pytest.approx(float(np.sum((p - q) * np.log(p / q))))
    assert report.column("x").details["epsilon"] == 1e-4
    custom = detect_drift(ref, cur, DriftSpec(numeric_method="psi", psi_epsilon=1e-6)).column("x")
    assert custom.statistic > report.column("x").statistic


def test_slices_need_rows_on_both_sides() -> None:
    ref = pd.DataFrame({"s": ["a"] * 50 + ["b"] * 5, "x": np.arange(55.0)})
    cur = pd.DataFrame({"s": ["a"] * 50 + ["c"] * 5, "x": np.arange(55.0)})
    assert sorted(detect_drift_by_slice(ref, cur, by="s")) == ["a"]
    assert detect_drift_by_slice(ref, cur, by="s", min_rows=60) == {}
    with pytest.raises(MonitoringInputError, match="slice column 'nope'"):
        detect_drift_by_slice(ref, cur, by="nope")


def test_report_serialises_to_json() -> None:
    ref, cur = _frames()
    report = detect_drift(ref, cur)
    again = type(report).model_validate_json(report.model_dump_json())
    assert again == report
