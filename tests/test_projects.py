"""Projects through the SDK, in local mode and against a real server: same semantics."""

from __future__ import annotations

import pytest

from shipyard.client import Client
from shipyard.errors import AlreadyExists, NotFound, ValidationFailed


def test_create_get_update(any_client: Client) -> None:
    created = any_client.create_project("fraud", "Card fraud models")
    assert created.name == "fraud"
    assert created.created_at.tzinfo is not None
    fetched = any_client.get_project("fraud")
    assert fetched == created
    updated = any_client.update_project("fraud", description="Card and ACH fraud")
    assert updated.description == "Card and ACH fraud"
    assert updated.updated_at >= created.updated_at
    assert any_client.get_project("fraud").description == "Card and ACH fraud"


def test_errors_are_typed(any_client: Client) -> None:
    any_client.create_project("dup")
    with pytest.raises(AlreadyExists) as info:
        any_client.create_project("dup")
    assert info.value.status == 409
    with pytest.raises(NotFound):
        any_client.get_project("missing")
    with pytest.raises(ValidationFailed) as bad:
        any_client.create_project("UPPER case")
    assert bad.value.details["fields"][0]["field"] == "body.name"


def test_default_project_always_exists(any_client: Client) -> None:
    assert any_client.get_project("default").name == "default"
    assert any_client.get_project().name == "default"  # the client's current project


def test_module_level_api(settings, monkeypatch: pytest.MonkeyPatch) -> None:
    import shipyard as sy
    from shipyard import sdk

    monkeypatch.setattr(sdk, "_client", Client(settings=settings))
    try:
        with pytest.raises(NotFound, match="create=True"):
            sy.set_project("risk")
        project = sy.set_project("risk", create=True, description="credit risk")
        assert project.name == "risk"
        assert sy.get_project() == "risk"
        assert sy.get_client().get_project().description == "credit risk"
        assert sy.set_project("risk").id == project.id  # existing: no second create
    finally:
        sdk._close()
