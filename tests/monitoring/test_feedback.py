"""Feedback through the SDK (local and over HTTP): stored, joined to predictions by request id
or user key; late labels join once the prediction lands; duplicates (last write wins) and
unknown ids are counted and reported."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from shipyard.client import Client
from shipyard.errors import InvalidArgument, ValidationFailed
from shipyard.monitoring.logstore import LogStore
from shipyard.settings import Settings
from tests.monitoring._predlog import write_log

TS = 1_767_312_000.0  # 2026-01-02T00:00:00Z


def _frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": [float(i) for i in range(n)], "prediction": [i % 2 for i in range(n)]})


def _labels(settings: Settings) -> dict[str, str | None]:
    result = LogStore.from_settings(settings).query(
        "SELECT request_id, label FROM predictions_with_feedback ORDER BY request_id", project="default"
    )
    return {r[0]: r[1] for r in result.rows}


def test_feedback_join_late_duplicate_unknown(any_client: Client, settings: Settings) -> None:
    root = Path(settings.prediction_log_url)
    write_log(root, _frame(4), ts=TS, prefix="r")  # r0..r3
    first = any_client.monitoring.feedback(
        "churn",
        [
            {"request_id": "r0", "label": 0},
            {"request_id": "r1", "label": 1},
            {"request_id": "r1", "label": 0},  # repeated in the batch: the later one wins
            {"request_id": "late-0", "label": 1},  # its prediction is not logged yet
        ],
    )
    assert first.model_dump() == {"accepted": 4, "duplicates": 1, "unknown": 1, "unknown_ids_sample": ["late-0"]}
    assert _labels(settings) == {"r0": "0", "r1": "0", "r2": None, "r3": None}

    second = any_client.monitoring.feedback("churn", [{"request_id": "r0", "label": 1}])  # a correction
    assert (second.accepted, second.duplicates, second.unknown) == (1, 1, 0)
    write_log(root, _frame(1), ts=TS + 60, prefix="late-")  # the late prediction lands
    assert _labels(settings) == {"late-0": "1", "r0": "1", "r1": "0", "r2": None, "r3": None}

    raw = LogStore.from_settings(settings).query("SELECT count(*), min(sender) FROM feedback_raw")
    assert raw.rows[0][0] == 5  # nothing dropped: every label sent is stored


def test_feedback_by_user_key_and_from_a_dataframe(client: Client, settings: Settings) -> None:
    write_log(Path(settings.prediction_log_url), _frame(3), ts=TS, user_keys=["c-a", "c-b", "c-c"])
    labels = pd.DataFrame({"customer": ["c-a", "c-c", "c-zz"], "truth": [1, 0, 1]})
    result = client.monitoring.feedback("churn", labels, id_column="customer", label_column="truth")
    assert (result.accepted, result.duplicates, result.unknown, result.unknown_ids_sample) == (3, 0, 1, ["c-zz"])
    joined = client.monitoring.query(
        "SELECT user_key, label, label_value FROM predictions_with_feedback ORDER BY user_key"
    )
    assert joined.rows == [["c-a", "1", 1.0], ["c-b", None, None], ["c-c", "0", 0.0]]


def test_bad_feedback_names_the_field(client: Client) -> None:
    with pytest.raises(ValidationFailed, match=r"body\.0: .*exactly one of request_id and key"):
        client.monitoring.feedback("churn", [{"request_id": "r0", "key": "k", "label": 1}])
    with pytest.raises(InvalidArgument) as caught:
        client.monitoring.feedback("churn", pd.DataFrame({"id": ["a"], "label": [1]}))
    assert caught.value.details["field"] == "id_column"
    with pytest.raises(InvalidArgument, match="no labels"):
        client.monitoring.feedback("churn", [])


def test_a_row_label_wins_over_its_requests_label(client: Client, settings: Settings) -> None:
    """A three-row request: a label for the whole request applies to every row; a label for
    one row overrides it there; each prediction still appears exactly once."""
    write_log(Path(settings.prediction_log_url), _frame(3), ts=TS, request_rows=3)  # request r0, rows 0-2
    result = client.monitoring.feedback(
        "churn", [{"request_id": "r0", "label": 1}, {"request_id": "r0", "row": 2, "label": 0}]
    )
    assert (result.accepted, result.duplicates, result.unknown) == (2, 0, 0)
    rows = client.monitoring.query('SELECT "row", label FROM predictions_with_feedback ORDER BY "row"').rows
    assert rows == [[0, "1"], [1, "1"], [2, "0"]]
    unknown_row = client.monitoring.feedback("churn", [{"request_id": "r0", "row": 7, "label": 1}])
    assert (unknown_row.unknown, unknown_row.unknown_ids_sample) == (1, ["r0"])
