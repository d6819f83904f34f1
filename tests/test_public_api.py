"""Each package has one public surface (``__all__``), sorted and complete."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "shipyard",
    "shipyard.errors",
    "shipyard.artifacts",
    "shipyard.store",
    "shipyard.projects",
    "shipyard.audit",
    "shipyard.evaluation",
    "shipyard.settings",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_resolves(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported)
    for symbol in exported:
        assert hasattr(module, symbol), f"{name}.{symbol}"


def test_error_codes_all_have_statuses() -> None:
    from shipyard import errors

    classes = [getattr(errors, n) for n in errors.__all__ if isinstance(getattr(errors, n), type)]
    for cls in classes:
        if issubclass(cls, errors.ShipyardError):
            assert cls.code in errors.CODE_TO_STATUS, cls


def test_envelope_round_trip_keeps_the_class() -> None:
    from shipyard import errors

    for cls in (errors.NotFound, errors.AlreadyExists, errors.ValidationFailed, errors.Unavailable):
        original = cls("boom", {"field": "x"})
        rebuilt = errors.from_envelope({"error": original.to_dict()}, original.status)
        assert type(rebuilt) is cls
        assert rebuilt.message == "boom"
        assert rebuilt.details == {"field": "x"}
    mismatch = errors.DigestMismatch("a" * 64, "b" * 64)
    rebuilt = errors.from_envelope({"error": mismatch.to_dict()}, 500)
    assert isinstance(rebuilt, errors.DigestMismatch)
    assert rebuilt.expected == "a" * 64
    assert isinstance(errors.from_envelope({"nope": 1}, 502), errors.InternalError)
