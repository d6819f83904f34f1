"""The package's public surface is complete: every public name of its modules is exported."""

from __future__ import annotations

from shipyard import monitoring


def test_all_is_complete_and_importable() -> None:
    for name in monitoring.__all__:
        assert hasattr(monitoring, name), name
    public = {n for n in vars(monitoring) if not n.startswith("_")} - {
        "drift",
        "errors",
        "profiles",
        "quality",
        "specs",
        "annotations",
        # the service layer (database, log files), imported on its own, not re-exported here
        "feedback",
        "logstore",
        "performance",
        "report",
        "scheduler",
        "schemas",
        "service",
        "tables",
    }
    assert public <= set(monitoring.__all__)
