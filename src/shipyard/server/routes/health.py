from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from fastapi.concurrency import run_in_threadpool

from shipyard import __version__
from shipyard.errors import ShipyardError, Unavailable
from shipyard.server.authz import authenticated, public
from shipyard.server.deps import State
from shipyard.server.errors import envelope
from shipyard.store import schema

router = APIRouter(tags=["health"])


@router.get("/healthz", dependencies=[Depends(public)], summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _check_database(state: State) -> dict[str, Any]:
    info: dict[str, Any] = {"backend": state.db.dialect, "url": state.db.display_url}
    try:
        state.db.ping()
        current = schema.schema_state(state.db)
        info["schema"] = {"status": current.status.value, "revision": current.current, "head": current.head}
        current.require_current()
        info["ok"] = True
    except ShipyardError as exc:
        info.update(ok=False, error=exc.message)
    except Exception as exc:  # a probe reports; it never crashes
        info.update(ok=False, error=f"{type(exc).__name__}: {exc}")
    return info


def _check_artifacts(state: State) -> dict[str, Any]:
    info: dict[str, Any] = {"backend": type(state.blobs).__name__, "url": state.blobs.url}
    try:
        state.blobs.ping()
        info["ok"] = True
    except ShipyardError as exc:
        info.update(ok=False, error=exc.message)
    except Exception as exc:
        info.update(ok=False, error=f"{type(exc).__name__}: {exc}")
    return info


@router.get(
    "/readyz", dependencies=[Depends(public)], summary="The metadata database and the artifact store are reachable"
)
async def readyz(state: State) -> Any:
    checks = {
        "database": await run_in_threadpool(_check_database, state),
        "artifacts": await run_in_threadpool(_check_artifacts, state),
    }
    failing = [name for name, c in checks.items() if not c["ok"]]
    if failing:
        return envelope(Unavailable(f"not ready: {', '.join(failing)} failing", {"checks": checks}))
    return {"status": "ready", "checks": checks}


@router.get("/metrics", dependencies=[Depends(authenticated)], summary="Prometheus metrics", response_class=Response)
def metrics(state: State) -> Response:
    body, content_type = state.metrics.render()
    return Response(body, media_type=content_type)


@router.get(
    "/api/v1/server-info",
    dependencies=[Depends(authenticated)],
    summary="Version and schema of this server",
    tags=["server"],
)
def server_info(state: State) -> dict[str, Any]:
    return {
        "version": __version__,
        "schema_revision": state.schema.current,
        "database_backend": state.db.dialect,
        "artifact_backend": type(state.blobs).__name__,
    }
