"""The caller: who am I, and my own API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from shipyard.auth import service
from shipyard.auth.identity import Identity
from shipyard.auth.schemas import TokenCreate, TokenCreated, TokenList, TokenOut, WhoAmI
from shipyard.server.authz import authenticated
from shipyard.server.deps import CurrentActor, Paging, ReadSession, State, WriteSession

router = APIRouter(prefix="/api/v1", tags=["identity"])
Caller = Annotated[Identity, Depends(authenticated)]


@router.get("/whoami", response_model=WhoAmI, summary="The caller: name, roles, token, project memberships")
def whoami(identity: Caller, session: ReadSession) -> WhoAmI:
    return service.whoami(session, identity)


@router.get("/tokens", response_model=TokenList, summary="The caller's own API tokens (prefixes, never secrets)")
def list_my_tokens(
    identity: Caller,
    session: ReadSession,
    paging: Paging,
    include_inactive: Annotated[bool, Query(description="Also list revoked and expired tokens.")] = False,
) -> TokenList:
    owner = service.principal_of(session, identity)
    page = service.list_tokens(
        session, owner, include_inactive=include_inactive, page_token=paging.page_token, page_size=paging.page_size
    )
    return TokenList(
        tokens=[service.token_out(t, owner.name) for t in page.items], next_page_token=page.next_page_token
    )


@router.post(
    "/tokens",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenCreated,
    summary="Issue the caller a new token (the token is in this reply only)",
)
def create_my_token(
    identity: Caller, body: TokenCreate, session: WriteSession, actor: CurrentActor, state: State
) -> TokenCreated:
    owner = service.principal_of(session, identity)
    token, text = service.issue_token(session, actor, owner, body, state.settings.auth, within=identity.scopes)
    return TokenCreated(**service.token_out(token, owner.name).model_dump(), token=text)


@router.post("/tokens/{prefix}/revoke", response_model=TokenOut, summary="Revoke one of the caller's tokens")
def revoke_my_token(identity: Caller, prefix: str, session: WriteSession, actor: CurrentActor) -> TokenOut:
    owner = service.principal_of(session, identity)
    return service.token_out(service.revoke_token(session, actor, owner, prefix), owner.name)
