"""The audit REST API on a real server (authenticated), and in local mode."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipyard.audit.checkpoints import Notary
from shipyard.audit.export import verify_export
from shipyard.audit.keys import parse_public_key
from shipyard.client import Client
from shipyard.errors import Conflict
from shipyard.store.engine import Database

from .conftest import verify


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    return body


@pytest.fixture
def admin(server_url: str, admin_token: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=30) as http:
        ok(http.post("/api/v1/projects", json={"name": "churn"}), 201)
        for name in ("a", "b", "c"):
            ok(http.post("/api/v1/projects/churn/experiments", json={"name": name}), 201)
        yield http


def token_for(admin: httpx.Client, name: str, org_role: str | None) -> str:
    ok(admin.post("/api/v1/users", json={"name": name, "org_role": org_role}), 201)
    token: str = ok(admin.post(f"/api/v1/principals/{name}/tokens", json={"name": "t"}), 201)["token"]
    return token


def test_entries_are_listed_with_filters_and_pages(admin: httpx.Client) -> None:
    everything = ok(admin.get("/api/v1/audit/entries", params={"max_results": 1000}))["entries"]
    assert [e["seq"] for e in everything] == list(range(1, len(everything) + 1))
    churn = ok(admin.get("/api/v1/audit/entries", params={"project": "churn"}))["entries"]
    assert [e["action"] for e in churn] == ["experiment.create"] * 3
    assert {e["project"] for e in churn} == {"churn"}
    assert {e["source"] for e in churn} == {"127.0.0.1"}
    assert all(len(e["hash"]) == 64 and e["request_id"] for e in churn)

    newest = ok(admin.get("/api/v1/audit/entries", params={"order": "desc", "max_results": 2}))
    assert [e["seq"] for e in newest["entries"]] == [everything[-1]["seq"], everything[-2]["seq"]]
    rest = ok(
        admin.get(
            "/api/v1/audit/entries", params={"order": "desc", "max_results": 2, "page_token": newest["next_page_token"]}
        )
    )
    assert rest["entries"][0]["seq"] == everything[-3]["seq"]

    window = ok(admin.get("/api/v1/audit/entries", params={"from_seq": 2, "to_seq": 3}))["entries"]
    assert [e["seq"] for e in window] == [2, 3]
    at = churn[1]["at"]
    since = ok(admin.get("/api/v1/audit/entries", params={"since": at, "action": "experiment.create"}))["entries"]
    assert [e["object_id"] for e in since] == [churn[1]["object_id"], churn[2]["object_id"]]
    until = ok(admin.get("/api/v1/audit/entries", params={"until": at, "project": "churn"}))["entries"]
    assert len(until) == 2


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"from_seq": 0}, 422, "query.from_seq"),
        ({"order": "sideways"}, 422, "query.order"),
        ({"since": "2026-12-04T10:00:00"}, 400, "since"),
        ({"since": "2026-12-05T00:00:00Z", "until": "2026-12-04T00:00:00Z"}, 400, "since"),
        ({"from_seq": 5, "to_seq": 2}, 400, "from_seq"),
        ({"page_token": "garbage"}, 400, "page_token"),
    ],
)
def test_bad_queries_name_the_field(admin: httpx.Client, params: dict[str, Any], status: int, field: str) -> None:
    body = error(admin.get("/api/v1/audit/entries", params=params), status)
    named = body["details"].get("field") or body["details"]["fields"][0]["field"]
    assert named == field


def test_an_unknown_project_is_not_found(admin: httpx.Client) -> None:
    assert error(admin.get("/api/v1/audit/entries", params={"project": "nope"}), 404)["code"] == "NOT_FOUND"


def test_head_keys_checkpoints_and_verify(admin: httpx.Client) -> None:
    head = ok(admin.get("/api/v1/audit/head"))
    assert head["seq"] >= 4
    assert head["checkpoint_interval"] == 10  # tests/audit/conftest.py
    keys = ok(admin.get("/api/v1/audit/public-key"))
    assert [k["signing"] for k in keys["keys"]] == [True]
    assert keys["keys"][0]["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")

    created = ok(admin.post("/api/v1/audit/checkpoints"), 201)
    assert (created["created"], created["tree_size"], created["head_hash"]) == (True, head["seq"], head["hash"])
    again = ok(admin.post("/api/v1/audit/checkpoints"), 200)
    assert (again["created"], again["id"]) == (False, created["id"])
    listed = ok(admin.get("/api/v1/audit/checkpoints"))["checkpoints"]
    assert [c["id"] for c in listed] == [created["id"]]

    report = ok(admin.get("/api/v1/audit/verify"))
    assert (report["ok"], report["entries"], report["checkpoints"]) == (True, head["seq"], 1)


def test_only_audit_readers_get_in_and_denials_are_chained(
    admin: httpx.Client, server_url: str, db: Database, notary: Notary
) -> None:
    nobody = token_for(admin, "nobody", None)
    auditor = token_for(admin, "auditor", "auditor")
    with httpx.Client(base_url=server_url, headers={"Authorization": f"Bearer {nobody}"}) as http:
        denied = error(http.get("/api/v1/audit/entries"), 403)
        assert denied["details"] == {"permission": "audit.read", "project": None}
        error(http.post("/api/v1/audit/checkpoints"), 403)
    with httpx.Client(base_url=server_url, headers={"Authorization": f"Bearer {auditor}"}) as http:
        denials = ok(http.get("/api/v1/audit/entries", params={"action": "access.denied"}))["entries"]
        ok(http.post("/api/v1/audit/checkpoints"), 201)
        assert ok(http.get("/api/v1/audit/verify"))["ok"]
    assert [(d["actor"], d["details"]["path"]) for d in denials] == [
        ("nobody", "/api/v1/audit/entries"),
        ("nobody", "/api/v1/audit/checkpoints"),
    ]
    assert all(d["source"] == "127.0.0.1" for d in denials)
    assert verify(db, notary).ok


def test_the_sdk_in_local_mode(client: Client) -> None:
    with pytest.raises(Conflict, match="empty"):
        client.create_audit_checkpoint()
    client.create_experiment("e")
    assert client.create_audit_checkpoint().tree_size == client.audit_head().seq == 1
    report = client.verify_audit()
    assert (report.ok, report.checkpoints) == (True, 1)
    assert client.verify_audit_on_server().ok


def test_the_sdk_over_http_verifies_and_exports_on_its_side(remote: Client, tmp_path: Path) -> None:
    remote.create_experiment("over-http")
    report = remote.verify_audit()
    assert report.ok, report.problem
    assert report.entries == remote.audit_head().seq
    path = tmp_path / "export.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        end = remote.export_audit(fh)
    assert end.entries == report.entries
    keys = [parse_public_key(k.public_key_pem, "key") for k in remote.audit_public_keys().keys]
    with path.open(encoding="utf-8") as fh:
        assert verify_export(fh, str(path), pinned=keys).ok
