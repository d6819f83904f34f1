"""Blob upload and download, streamed in both directions.

Uploads are staged while they arrive (hashing as they go) and only published once
complete and verified, so an interrupted upload is simply retried. Downloads honour
``Range`` so an interrupted download resumes where it stopped.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse

from shipyard.artifacts import service
from shipyard.artifacts.backends import StagedBlob
from shipyard.artifacts.digests import check_digest
from shipyard.artifacts.schemas import BlobInfo, BlobList
from shipyard.projects import service as projects
from shipyard.server.authz import authorize
from shipyard.server.deps import Paging, ReadSession, State
from shipyard.server.ranges import parse_range
from shipyard.server.state import AppState

router = APIRouter(prefix="/api/v1/projects/{project}/blobs", tags=["blobs"])

WRITE_BUFFER = 1024 * 1024


async def _receive_into(request: Request, staged: StagedBlob) -> None:
    buffer = bytearray()
    async for chunk in request.stream():
        buffer += chunk
        if len(buffer) >= WRITE_BUFFER:
            await run_in_threadpool(staged.write, bytes(buffer))
            buffer.clear()
    if buffer:
        await run_in_threadpool(staged.write, bytes(buffer))


def _record(state: AppState, project: str, digest: str, size: int) -> tuple[BlobInfo, bool]:
    with state.db.session() as session:
        blob, created = service.record(session, projects.get_by_name(session, project), digest, size)
        return BlobInfo.model_validate(blob), created


def _held(state: AppState, project: str, digest: str) -> BlobInfo | None:
    with state.db.session(readonly=True) as session:
        found = service.held(session, projects.get_by_name(session, project), digest)
        return None if found is None else BlobInfo.model_validate(found)


def _require_project(state: AppState, project: str) -> None:
    with state.db.session(readonly=True) as session:
        projects.get_by_name(session, project)


async def _upload(request: Request, state: AppState, project: str, expected: str | None) -> JSONResponse:
    await run_in_threadpool(_require_project, state, project)
    if expected is not None:
        # This project already holds these bytes: nothing to receive (idempotent retry).
        known = await run_in_threadpool(_held, state, project, expected)
        if known is not None:
            return JSONResponse(known.model_dump(mode="json"), status_code=200)
    staged = await run_in_threadpool(state.blobs.stage)
    try:
        await _receive_into(request, staged)
        digest = await run_in_threadpool(staged.commit, expected)
    finally:
        await run_in_threadpool(staged.discard)
    info, created = await run_in_threadpool(_record, state, project, digest, staged.size)
    return JSONResponse(info.model_dump(mode="json"), status_code=201 if created else 200)


@router.post(
    "",
    dependencies=[Depends(authorize("artifacts.write"))],
    status_code=status.HTTP_201_CREATED,
    response_model=BlobInfo,
    summary="Upload a blob; the server computes its digest",
    description="The request body is the raw bytes. 201 when new to the project, 200 when it already held them.",
)
async def upload_blob(
    request: Request,
    project: str,
    state: State,
    x_content_sha256: Annotated[str | None, Header(description="Expected sha256; a mismatch is refused.")] = None,
) -> JSONResponse:
    expected = check_digest(x_content_sha256, "X-Content-SHA256") if x_content_sha256 else None
    return await _upload(request, state, project, expected)


@router.put(
    "/{digest}",
    dependencies=[Depends(authorize("artifacts.write"))],
    response_model=BlobInfo,
    summary="Upload a blob under its known digest (idempotent)",
)
async def put_blob(request: Request, project: str, digest: str, state: State) -> JSONResponse:
    return await _upload(request, state, project, check_digest(digest))


@router.get(
    "",
    dependencies=[Depends(authorize("artifacts.read"))],
    response_model=BlobList,
    summary="Blobs of a project, newest first",
)
def list_blobs(project: str, session: ReadSession, paging: Paging) -> BlobList:
    page = service.list_blobs(
        session, projects.get_by_name(session, project), page_token=paging.page_token, page_size=paging.page_size
    )
    return BlobList(blobs=[BlobInfo.model_validate(b) for b in page.items], next_page_token=page.next_page_token)


@router.get(
    "/{digest}/info",
    dependencies=[Depends(authorize("artifacts.read"))],
    response_model=BlobInfo,
    summary="Size and creation time of a blob",
)
def blob_info(project: str, digest: str, session: ReadSession) -> BlobInfo:
    return BlobInfo.model_validate(service.get(session, projects.get_by_name(session, project), digest))


def _headers(digest: str) -> dict[str, str]:
    return {
        "Accept-Ranges": "bytes",
        "ETag": f'"sha256:{digest}"',
        "X-Content-SHA256": digest,
        "Cache-Control": "private, max-age=31536000, immutable",
    }


@router.head(
    "/{digest}", dependencies=[Depends(authorize("artifacts.read"))], summary="Size and digest of a blob, as headers"
)
def head_blob(project: str, digest: str, state: State, session: ReadSession) -> Response:
    blob = service.get(session, projects.get_by_name(session, project), digest)
    headers = _headers(blob.digest) | {"Content-Length": str(state.blobs.size(blob.digest))}
    return Response(status_code=200, headers=headers, media_type="application/octet-stream")


@router.get(
    "/{digest}",
    dependencies=[Depends(authorize("artifacts.read"))],
    response_class=StreamingResponse,
    summary="Download a blob (supports Range for resuming)",
    responses={200: {"content": {"application/octet-stream": {}}}, 206: {"description": "Partial content"}},
)
def download_blob(
    project: str,
    digest: str,
    state: State,
    session: ReadSession,
    range_header: Annotated[str | None, Header(alias="Range")] = None,
) -> Response:
    blob = service.get(session, projects.get_by_name(session, project), digest)
    size = state.blobs.size(blob.digest)
    headers = _headers(blob.digest)
    span = parse_range(range_header, size)
    if span is not None:
        start, end = span
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        headers["Content-Length"] = str(end - start + 1)
        return StreamingResponse(
            state.blobs.iter_verified(blob.digest, start, end),
            status_code=206,
            headers=headers,
            media_type="application/octet-stream",
        )
    headers["Content-Length"] = str(size)
    if size <= state.settings.artifacts.verify_before_send_bytes:
        # Small enough to check before the status line: corruption is a clean 500 envelope.
        return Response(state.blobs.read_bytes(blob.digest), headers=headers, media_type="application/octet-stream")
    return StreamingResponse(
        state.blobs.iter_verified(blob.digest), headers=headers, media_type="application/octet-stream"
    )
