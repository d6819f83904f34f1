"""Users, service accounts and the tokens an admin issues them (organisation-wide)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from shipyard.auth import service
from shipyard.auth.schemas import (
    PrincipalCreate,
    PrincipalList,
    PrincipalOut,
    PrincipalUpdate,
    TokenCreate,
    TokenCreated,
    TokenList,
    TokenOut,
)
from shipyard.auth.tables import SERVICE_ACCOUNT, USER
from shipyard.server.authz import authorize
from shipyard.server.deps import CurrentActor, Paging, ReadSession, State, WriteSession

router = APIRouter(prefix="/api/v1", tags=["identity"])
IDENTITY_READ = [Depends(authorize("identity.read"))]
IDENTITY_ADMIN = [Depends(authorize("identity.admin"))]


def _list(kind: str, session: ReadSession, paging: Paging) -> PrincipalList:
    page = service.list_principals(session, kind, page_token=paging.page_token, page_size=paging.page_size)
    return PrincipalList(
        principals=[PrincipalOut.model_validate(p) for p in page.items], next_page_token=page.next_page_token
    )


@router.post("/users", status_code=status.HTTP_201_CREATED, response_model=PrincipalOut, dependencies=IDENTITY_ADMIN)
def create_user(body: PrincipalCreate, session: WriteSession, actor: CurrentActor) -> PrincipalOut:
    return PrincipalOut.model_validate(service.create_principal(session, actor, USER, body))


@router.get("/users", response_model=PrincipalList, dependencies=IDENTITY_READ)
def list_users(session: ReadSession, paging: Paging) -> PrincipalList:
    return _list(USER, session, paging)


@router.get("/users/{name}", response_model=PrincipalOut, dependencies=IDENTITY_READ)
def get_user(name: str, session: ReadSession) -> PrincipalOut:
    return PrincipalOut.model_validate(service.get_principal(session, name, USER))


@router.patch("/users/{name}", response_model=PrincipalOut, dependencies=IDENTITY_ADMIN)
def update_user(name: str, body: PrincipalUpdate, session: WriteSession, actor: CurrentActor) -> PrincipalOut:
    return PrincipalOut.model_validate(service.update_principal(session, actor, name, USER, body))


@router.post(
    "/service-accounts", status_code=status.HTTP_201_CREATED, response_model=PrincipalOut, dependencies=IDENTITY_ADMIN
)
def create_service_account(body: PrincipalCreate, session: WriteSession, actor: CurrentActor) -> PrincipalOut:
    return PrincipalOut.model_validate(service.create_principal(session, actor, SERVICE_ACCOUNT, body))


@router.get("/service-accounts", response_model=PrincipalList, dependencies=IDENTITY_READ)
def list_service_accounts(session: ReadSession, paging: Paging) -> PrincipalList:
    return _list(SERVICE_ACCOUNT, session, paging)


@router.get("/service-accounts/{name}", response_model=PrincipalOut, dependencies=IDENTITY_READ)
def get_service_account(name: str, session: ReadSession) -> PrincipalOut:
    return PrincipalOut.model_validate(service.get_principal(session, name, SERVICE_ACCOUNT))


@router.patch("/service-accounts/{name}", response_model=PrincipalOut, dependencies=IDENTITY_ADMIN)
def update_service_account(
    name: str, body: PrincipalUpdate, session: WriteSession, actor: CurrentActor
) -> PrincipalOut:
    return PrincipalOut.model_validate(service.update_principal(session, actor, name, SERVICE_ACCOUNT, body))


@router.get("/principals/{name}/tokens", response_model=TokenList, dependencies=IDENTITY_READ)
def list_principal_tokens(
    name: str,
    session: ReadSession,
    paging: Paging,
    include_inactive: Annotated[bool, Query(description="Also list revoked and expired tokens.")] = False,
) -> TokenList:
    owner = service.get_principal(session, name)
    page = service.list_tokens(
        session, owner, include_inactive=include_inactive, page_token=paging.page_token, page_size=paging.page_size
    )
    return TokenList(
        tokens=[service.token_out(t, owner.name) for t in page.items], next_page_token=page.next_page_token
    )


@router.post(
    "/principals/{name}/tokens",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenCreated,
    dependencies=IDENTITY_ADMIN,
    summary="Issue a token to a user or service account (the token is in this reply only)",
)
def create_principal_token(
    name: str, body: TokenCreate, session: WriteSession, actor: CurrentActor, state: State
) -> TokenCreated:
    owner = service.get_principal(session, name)
    token, text = service.issue_token(session, actor, owner, body, state.settings.auth)
    return TokenCreated(**service.token_out(token, owner.name).model_dump(), token=text)


@router.post("/principals/{name}/tokens/{prefix}/revoke", response_model=TokenOut, dependencies=IDENTITY_ADMIN)
def revoke_principal_token(name: str, prefix: str, session: WriteSession, actor: CurrentActor) -> TokenOut:
    owner = service.get_principal(session, name)
    return service.token_out(service.revoke_token(session, actor, owner, prefix), owner.name)
