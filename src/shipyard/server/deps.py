"""Request dependencies: state, units of work, paging. Routers use these, nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session

from shipyard.auth.identity import Identity
from shipyard.events.context import Actor
from shipyard.server.state import AppState
from shipyard.store.pagination import check_page_size


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.shipyard
    return state


def _write_session(request: Request) -> Iterator[Session]:
    with get_state(request).db.session() as session:
        yield session


def _read_session(request: Request) -> Iterator[Session]:
    with get_state(request).db.session(readonly=True) as session:
        yield session


def _actor(request: Request) -> Actor:
    """The caller as recorded on events: the identity the route's access declaration
    authenticated (see shipyard.server.authz), which always runs before this."""
    client = request.client
    identity: Identity | None = getattr(request.state, "identity", None)
    return Actor(
        name=identity.name if identity is not None else get_state(request).default_actor,
        request_id=request.state.request_id,
        source=client.host if client is not None else None,
    )


@dataclass(frozen=True)
class PageParams:
    page_token: str | None
    page_size: int


def _page_params(
    request: Request,
    max_results: Annotated[int | None, Query(description="Items per page (1 to the server's max_page_size).")] = None,
    page_token: Annotated[str | None, Query(description="next_page_token of the previous page.")] = None,
) -> PageParams:
    server = get_state(request).settings.server
    size = check_page_size(max_results, server.default_page_size, server.max_page_size)
    return PageParams(page_token=page_token or None, page_size=size)


State = Annotated[AppState, Depends(get_state)]
# scope="function": the unit of work commits before the response is sent, so a failed
# commit is reported to the caller instead of after a 200 has left.
WriteSession = Annotated[Session, Depends(_write_session, scope="function")]
ReadSession = Annotated[Session, Depends(_read_session, scope="function")]
Paging = Annotated[PageParams, Depends(_page_params)]
CurrentActor = Annotated[Actor, Depends(_actor)]
