"""The HTTP contract every endpoint shares: one error envelope, request ids, metrics,
health and readiness, OpenAPI. Run against a real uvicorn server on loopback."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shipyard.client import Client
from shipyard.errors import Unavailable
from shipyard.settings import Settings

ERROR_KEYS = {"code", "message", "details"}


@pytest.fixture
def http(server_url: str, admin_token: str):
    with httpx.Client(base_url=server_url, timeout=10, headers={"Authorization": f"Bearer {admin_token}"}) as c:
        yield c


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == ERROR_KEYS
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
    return body["error"]


def test_404_unknown_route(http: httpx.Client) -> None:
    err = assert_envelope(http.get("/api/v1/nothing-here"), 404, "NOT_FOUND")
    assert "/api/v1/nothing-here" in err["message"]


def test_404_unknown_object(http: httpx.Client) -> None:
    err = assert_envelope(http.get("/api/v1/projects/ghost"), 404, "NOT_FOUND")
    assert err["details"] == {"resource": "project", "name": "ghost"}


def test_405_lists_allowed_methods(http: httpx.Client) -> None:
    response = http.delete("/api/v1/projects")
    err = assert_envelope(response, 405, "METHOD_NOT_ALLOWED")
    assert "DELETE" in err["message"]
    assert err["details"]["allowed"] == ["GET", "POST"]
    assert response.headers["allow"] == "GET, POST"
    err = assert_envelope(http.delete("/api/v1/projects/default"), 405, "METHOD_NOT_ALLOWED")
    assert err["details"]["allowed"] == ["GET", "PATCH"]


def test_422_names_the_field(http: httpx.Client) -> None:
    err = assert_envelope(http.post("/api/v1/projects", json={"name": "Not Valid!"}), 422, "VALIDATION_FAILED")
    assert err["message"].startswith("body.name")
    assert err["details"]["fields"][0]["field"] == "body.name"
    err = assert_envelope(http.post("/api/v1/projects", json={"nam": "x"}), 422, "VALIDATION_FAILED")
    fields = {f["field"] for f in err["details"]["fields"]}
    assert {"body.name", "body.nam"} <= fields


def test_400_on_malformed_json_and_bad_arguments(http: httpx.Client) -> None:
    bad_json = http.post("/api/v1/projects", content=b"{not json", headers={"content-type": "application/json"})
    err = assert_envelope(bad_json, 400, "INVALID_ARGUMENT")
    assert err["details"]["field"] == "body"
    err = assert_envelope(http.get("/api/v1/projects", params={"max_results": 0}), 400, "INVALID_ARGUMENT")
    assert err["details"]["field"] == "max_results"
    err = assert_envelope(http.get("/api/v1/projects", params={"page_token": "garbage"}), 400, "INVALID_ARGUMENT")
    assert err["details"]["field"] == "page_token"
    err = assert_envelope(http.get("/api/v1/projects/default/blobs/not-a-digest/info"), 400, "INVALID_ARGUMENT")
    assert err["details"]["field"] == "digest"


def test_409_duplicate(http: httpx.Client) -> None:
    assert http.post("/api/v1/projects", json={"name": "twice"}).status_code == 201
    err = assert_envelope(http.post("/api/v1/projects", json={"name": "twice"}), 409, "ALREADY_EXISTS")
    assert "twice" in err["message"]


def test_request_id_is_echoed_or_minted(http: httpx.Client) -> None:
    sent = http.get("/healthz", headers={"X-Request-ID": "trace-abc.123"})
    assert sent.headers["x-request-id"] == "trace-abc.123"
    minted = http.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", minted.headers["x-request-id"])
    assert minted.headers["x-request-id"] != http.get("/healthz").headers["x-request-id"]
    # A hostile id (header injection, oversize) is replaced, never echoed.
    hostile = http.get("/healthz", headers={"X-Request-ID": "x" * 500})
    assert hostile.headers["x-request-id"] != "x" * 500
    # Errors carry it too.
    failed = http.get("/api/v1/projects/ghost", headers={"X-Request-ID": "req-42"})
    assert failed.status_code == 404
    assert failed.headers["x-request-id"] == "req-42"


def test_request_id_reaches_the_logs(
    server_url: str, capsys: pytest.CaptureFixture[str], settings: Settings, admin_token: str
) -> None:
    # The fixture server logs at WARNING; build one that logs requests.
    from shipyard.demo.background_server import serve_in_thread
    from shipyard.logging import configure_logging
    from shipyard.server.app import create_app

    configure_logging(settings.logging.model_copy(update={"level": "INFO"}))
    app = create_app(settings.model_copy(update={"logging": settings.logging.model_copy(update={"level": "INFO"})}))
    with serve_in_thread(app) as url, httpx.Client(base_url=url) as c:
        c.get("/api/v1/projects/ghost", headers={"X-Request-ID": "log-me-7", "Authorization": f"Bearer {admin_token}"})
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "log-me-7" in line]
    assert lines, err
    assert '"status": 404' in lines[-1]
    assert '"route": "/api/v1/projects/{project}"' in lines[-1]
    configure_logging(settings.logging)


def test_metrics_parse_and_count_by_route(http: httpx.Client) -> None:
    http.get("/api/v1/projects")
    http.get("/api/v1/projects/ghost")
    http.get("/api/v1/projects/ghost2")
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    requests = families["shipyard_http_requests"]
    counts = {
        (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
        for s in requests.samples
        if s.name.endswith("_total")
    }
    assert counts[("GET", "/api/v1/projects/{project}", "404")] == 2  # templated, not raw paths
    assert counts[("GET", "/api/v1/projects", "200")] >= 1
    latency = families["shipyard_http_request_duration_seconds"]
    assert any(s.name.endswith("_bucket") for s in latency.samples)


def test_healthz_and_readyz(http: httpx.Client) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    ready = http.get("/readyz")
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert checks["database"]["ok"]
    assert checks["artifacts"]["ok"]
    assert checks["database"]["schema"]["status"] == "current"
    assert checks["database"]["backend"] in {"sqlite", "postgresql"}


def test_readyz_reports_a_broken_artifact_store(client: Client, settings: Settings) -> None:
    root = Path(settings.artifacts_url)
    if root.exists():
        shutil.rmtree(root)
    root.write_text("not a directory")  # the store cannot create or write its root
    with pytest.raises(Unavailable) as info:
        client.ready()
    checks = info.value.details["checks"]
    assert checks["database"]["ok"] is True
    assert checks["artifacts"]["ok"] is False
    assert "artifacts" in info.value.message


def test_openapi_document(http: httpx.Client) -> None:
    doc = http.get("/api/v1/openapi.json").json()
    assert doc["info"]["title"] == "Shipyard"
    paths = doc["paths"]
    assert "/api/v1/projects" in paths
    assert "/api/v1/projects/{project}/blobs/{digest}" in paths
    assert http.get("/api/v1/docs").status_code == 200


def test_internal_error_is_an_envelope_with_request_id(settings: Settings) -> None:
    from fastapi import FastAPI

    from shipyard.client.transport import InProcessTransport
    from shipyard.server.app import create_app

    app: FastAPI = create_app(settings, embedded=True)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret-internal-detail")

    try:
        with httpx.Client(transport=InProcessTransport(app), base_url="http://t") as c:
            response = c.get("/boom", headers={"X-Request-ID": "crash-1"})
    finally:
        app.state.shipyard.db.dispose()
    err = assert_envelope_any_id(response, 500, "INTERNAL")
    assert "secret-internal-detail" not in response.text
    assert err["details"]["request_id"] == "crash-1"


def assert_envelope_any_id(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status
    body = response.json()
    assert body["error"]["code"] == code
    assert response.headers["x-request-id"]
    return body["error"]
