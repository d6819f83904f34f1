"""The HTML monitoring report: every section, self-contained (no external URL, no script)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from shipyard.alerts.schemas import AlertOut
from shipyard.monitoring import detect_drift
from shipyard.monitoring.report import history_from_results, write_report

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"age": rng.normal(40, 10, 2000), "region": rng.choice(["eu", "us"], 2000)})
    current = pd.DataFrame({"age": rng.normal(48, 10, 2000), "region": rng.choice(["eu", "us", "apac"], 2000)})
    return reference, current


def test_report_has_every_section_and_opens_offline(tmp_path: Path) -> None:
    reference, current = frames()
    results = [
        {
            "window_end": T0 + timedelta(hours=h),
            "drift_share": 0.5 * h / 3,
            "performance": {
                "metrics": {"accuracy": 0.9 - 0.05 * h, "f1": 0.85 - 0.05 * h},
                "slices": [
                    {"column": "region", "value": "eu", "rows": 40, "metrics": {"accuracy": 0.6}},
                    {"column": "region", "value": "us", "rows": 60, "metrics": {"accuracy": 0.9}},
                ],
            },
        }
        for h in range(4)
    ]
    history = history_from_results(reversed(results))
    assert [v for _, v in history.drift_share] == [0.0, 0.5 / 3, 1 / 3, 0.5]
    assert history.slices[0] == {"column": "region", "value": "eu", "rows": 40, "accuracy": 0.6}
    alert = AlertOut(
        fingerprint="f" * 32,
        name="drift",
        rule="drift",
        slo=None,
        labels={"endpoint": "churn"},
        severity="page",
        status="firing",
        value=0.5,
        threshold=0.3,
        summary="drift <b>high</b>",
        active_since=T0,
        fired_at=T0,
        resolved_at=None,
        observed_at=T0,
        updated_at=T0,
    )
    out = write_report(
        tmp_path / "out" / "report.html",
        endpoint="churn",
        reference=reference,
        current=current,
        drift=detect_drift(reference, current),
        drift_history=history.drift_share,
        performance_history=history.performance,
        slices=history.slices,
        alerts=[alert],
        generated_at=T0,
    )
    text = out.read_text()
    for anchor in ("alerts", "drift", "distributions", "drift-over-time", "performance-over-time", "slices"):
        assert f'<section id="{anchor}">' in text
    assert text.count("data:image/png;base64,") == 2 + 2  # two features, two time series
    assert "drift &lt;b&gt;high&lt;/b&gt;" in text  # escaped
    assert "DRIFT" in text
    assert "<script" not in text
    markup = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", text)
    assert not re.search(r"(https?:)?//[a-z0-9]", markup, re.IGNORECASE)  # no external URL of any kind
    assert all(src.startswith("data:image/png;base64,") for src in re.findall(r'src="([^"]*)"', text))


def test_report_with_only_an_endpoint_and_arrow_input(tmp_path: Path) -> None:
    import pyarrow as pa  # type: ignore[import-untyped]

    reference, current = frames()
    text = write_report(
        tmp_path / "r.html",
        endpoint="x",
        reference=pa.Table.from_pandas(reference),
        current=pa.Table.from_pandas(current),
        columns=["region"],
    ).read_text()
    assert text.count("data:image/png;base64,") == 1
    assert '<section id="alerts">' not in text
    assert write_report(tmp_path / "e.html", endpoint="empty").read_text().startswith("<!DOCTYPE html>")


def test_report_from_stored_results_only(tmp_path: Path) -> None:
    features = [
        {"column": "age", "kind": "numeric", "method": "ks", "statistic": 0.001, "threshold": 0.05, "drifted": True}
    ]
    results = [{"window_end": T0, "drift_share": 0.5, "performance": None, "features": features}]
    history = history_from_results(results)
    assert history.features == features
    text = write_report(
        tmp_path / "r.html",
        endpoint="churn",
        drift=history.features,
        drift_history=history.drift_share,
        drift_threshold=0.3,
    ).read_text()
    assert "1 of 1 columns drifted" in text
    assert '<section id="drift-over-time">' in text
    assert '<section id="performance-over-time">' not in text
