from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from shipyard.errors import InvalidArgument
from shipyard.projects import service as projects
from shipyard.registry import aliases, models, uris, versions, views
from shipyard.registry.schemas import (
    AliasChangeOut,
    AliasHistory,
    AliasSet,
    ModelVersionList,
    ModelVersionOut,
    RegisteredModelCreate,
    RegisteredModelList,
    RegisteredModelOut,
    RegisteredModelUpdate,
    VersionCreate,
    VersionUpdate,
)
from shipyard.registry.tables import ModelVersion, RegisteredModel
from shipyard.server.authz import authorize
from shipyard.server.deps import CurrentActor, Paging, ReadSession, State, WriteSession
from shipyard.tracking.schemas import TagValueIn

router = APIRouter(prefix="/api/v1/projects/{project}/models", tags=["registry"])


def _one(session: ReadSession | WriteSession, model: RegisteredModel) -> RegisteredModelOut:
    return views.model_out(session, [model])[0]


def _version(session: ReadSession | WriteSession, pair: tuple[RegisteredModel, ModelVersion]) -> ModelVersionOut:
    return views.version_out(session, pair[0], [pair[1]])[0]


@router.post(
    "",
    dependencies=[Depends(authorize("registry.write"))],
    status_code=status.HTTP_201_CREATED,
    response_model=RegisteredModelOut,
)
def create_model(
    project: str, body: RegisteredModelCreate, session: WriteSession, actor: CurrentActor
) -> RegisteredModelOut:
    return _one(session, models.create(session, actor, projects.get_by_name(session, project), body))


@router.get("", dependencies=[Depends(authorize("registry.read"))], response_model=RegisteredModelList)
def list_models(
    project: str,
    session: ReadSession,
    paging: Paging,
    view: Annotated[str, Query(description="active, archived, deleted or all")] = "active",
    name_like: Annotated[str | None, Query(description="Case-insensitive SQL LIKE pattern.")] = None,
) -> RegisteredModelList:
    page = models.list_models(
        session,
        projects.get_by_name(session, project),
        view=view,
        name_like=name_like,
        page_token=paging.page_token,
        page_size=paging.page_size,
    )
    return RegisteredModelList(models=views.model_out(session, page.items), next_page_token=page.next_page_token)


@router.get(
    "/resolve",
    dependencies=[Depends(authorize("registry.read"))],
    response_model=ModelVersionOut,
    summary="Resolve models:/name@alias, models:/name/3, /latest",
)
def resolve_uri(project: str, uri: str, session: ReadSession) -> ModelVersionOut:
    p = projects.get_by_name(session, project)
    ref = uris.parse(uri)
    if isinstance(ref, uris.RunRef):
        raise InvalidArgument("runs:/ URIs name run files, not registered versions", {"field": "uri"})
    if ref.alias:
        return _version(session, aliases.resolve(session, p, ref.name, ref.alias))
    if ref.version is not None:
        return _version(session, versions.get(session, p, ref.name, ref.version))
    return _version(session, versions.latest(session, p, ref.name))


@router.get("/{name}", dependencies=[Depends(authorize("registry.read"))], response_model=RegisteredModelOut)
def get_model(project: str, name: str, session: ReadSession) -> RegisteredModelOut:
    return _one(session, models.get(session, projects.get_by_name(session, project), name))


@router.patch("/{name}", dependencies=[Depends(authorize("registry.write"))], response_model=RegisteredModelOut)
def update_model(
    project: str, name: str, body: RegisteredModelUpdate, session: WriteSession, actor: CurrentActor
) -> RegisteredModelOut:
    return _one(session, models.update(session, actor, projects.get_by_name(session, project), name, body))


@router.post("/{name}/archive", dependencies=[Depends(authorize("registry.write"))], response_model=RegisteredModelOut)
def archive_model(project: str, name: str, session: WriteSession, actor: CurrentActor) -> RegisteredModelOut:
    return _one(session, models.archive(session, actor, projects.get_by_name(session, project), name))


@router.post(
    "/{name}/delete",
    dependencies=[Depends(authorize("registry.write"))],
    response_model=RegisteredModelOut,
    summary="Soft-delete (restorable)",
)
def delete_model(project: str, name: str, session: WriteSession, actor: CurrentActor) -> RegisteredModelOut:
    return _one(session, models.delete_model(session, actor, projects.get_by_name(session, project), name))


@router.post(
    "/{name}/restore",
    dependencies=[Depends(authorize("registry.write"))],
    response_model=RegisteredModelOut,
    summary="Undo archive or delete",
)
def restore_model(project: str, name: str, session: WriteSession, actor: CurrentActor) -> RegisteredModelOut:
    return _one(session, models.restore(session, actor, projects.get_by_name(session, project), name))


@router.put(
    "/{name}/tags/{key}", dependencies=[Depends(authorize("registry.write"))], status_code=status.HTTP_204_NO_CONTENT
)
def set_model_tag(
    project: str, name: str, key: str, body: TagValueIn, session: WriteSession, actor: CurrentActor
) -> Response:
    models.set_tag(session, actor, projects.get_by_name(session, project), name, key, body.value)
    return Response(status_code=204)


@router.delete(
    "/{name}/tags/{key}", dependencies=[Depends(authorize("registry.write"))], status_code=status.HTTP_204_NO_CONTENT
)
def delete_model_tag(project: str, name: str, key: str, session: WriteSession, actor: CurrentActor) -> Response:
    models.delete_tag(session, actor, projects.get_by_name(session, project), name, key)
    return Response(status_code=204)


@router.post(
    "/{name}/versions",
    dependencies=[Depends(authorize("registry.write"))],
    status_code=status.HTTP_201_CREATED,
    response_model=ModelVersionOut,
)
def create_version(
    project: str, name: str, body: VersionCreate, session: WriteSession, actor: CurrentActor, state: State
) -> ModelVersionOut:
    pair = versions.create(session, actor, projects.get_by_name(session, project), state.blobs, name, body)
    return _version(session, pair)


@router.get("/{name}/versions", dependencies=[Depends(authorize("registry.read"))], response_model=ModelVersionList)
def list_versions(project: str, name: str, session: ReadSession, paging: Paging) -> ModelVersionList:
    model, page = versions.list_versions(
        session, projects.get_by_name(session, project), name, page_token=paging.page_token, page_size=paging.page_size
    )
    return ModelVersionList(
        versions=views.version_out(session, model, page.items), next_page_token=page.next_page_token
    )


@router.get(
    "/{name}/versions/{version}", dependencies=[Depends(authorize("registry.read"))], response_model=ModelVersionOut
)
def get_version(project: str, name: str, version: int, session: ReadSession) -> ModelVersionOut:
    return _version(session, versions.get(session, projects.get_by_name(session, project), name, version))


@router.patch(
    "/{name}/versions/{version}", dependencies=[Depends(authorize("registry.write"))], response_model=ModelVersionOut
)
def update_version(
    project: str, name: str, version: int, body: VersionUpdate, session: WriteSession, actor: CurrentActor
) -> ModelVersionOut:
    return _version(
        session, versions.update(session, actor, projects.get_by_name(session, project), name, version, body)
    )


@router.post(
    "/{name}/versions/{version}/archive",
    dependencies=[Depends(authorize("registry.write"))],
    response_model=ModelVersionOut,
)
def archive_version(
    project: str, name: str, version: int, session: WriteSession, actor: CurrentActor
) -> ModelVersionOut:
    return _version(session, versions.archive(session, actor, projects.get_by_name(session, project), name, version))


@router.post(
    "/{name}/versions/{version}/delete",
    dependencies=[Depends(authorize("registry.write"))],
    response_model=ModelVersionOut,
)
def delete_version(
    project: str, name: str, version: int, session: WriteSession, actor: CurrentActor
) -> ModelVersionOut:
    pair = versions.delete_version(session, actor, projects.get_by_name(session, project), name, version)
    return _version(session, pair)


@router.post(
    "/{name}/versions/{version}/restore",
    dependencies=[Depends(authorize("registry.write"))],
    response_model=ModelVersionOut,
)
def restore_version(
    project: str, name: str, version: int, session: WriteSession, actor: CurrentActor
) -> ModelVersionOut:
    return _version(session, versions.restore(session, actor, projects.get_by_name(session, project), name, version))


@router.put(
    "/{name}/aliases/{alias}",
    dependencies=[Depends(authorize("registry.write"))],
    response_model=ModelVersionOut,
    summary="Point an alias at a version (atomic)",
)
def set_alias(
    project: str, name: str, alias: str, body: AliasSet, session: WriteSession, actor: CurrentActor, state: State
) -> ModelVersionOut:
    p = projects.get_by_name(session, project)
    return _version(session, aliases.set_alias(session, actor, p, name, alias, body.version, store=state.blobs))


@router.delete(
    "/{name}/aliases/{alias}",
    dependencies=[Depends(authorize("registry.write"))],
    status_code=status.HTTP_204_NO_CONTENT,
)
def delete_alias(project: str, name: str, alias: str, session: WriteSession, actor: CurrentActor) -> Response:
    aliases.delete_alias(session, actor, projects.get_by_name(session, project), name, alias)
    return Response(status_code=204)


@router.get(
    "/{name}/aliases/{alias}", dependencies=[Depends(authorize("registry.read"))], response_model=ModelVersionOut
)
def get_alias(project: str, name: str, alias: str, session: ReadSession) -> ModelVersionOut:
    return _version(session, aliases.resolve(session, projects.get_by_name(session, project), name, alias))


@router.get(
    "/{name}/alias-history",
    dependencies=[Depends(authorize("registry.read"))],
    response_model=AliasHistory,
    summary="Every alias move: who, when, from, to",
)
def alias_history(
    project: str, name: str, session: ReadSession, paging: Paging, alias: str | None = None
) -> AliasHistory:
    page = aliases.history(
        session,
        projects.get_by_name(session, project),
        name,
        alias=alias,
        page_token=paging.page_token,
        page_size=paging.page_size,
    )
    return AliasHistory(
        changes=[AliasChangeOut.model_validate(c) for c in page.items], next_page_token=page.next_page_token
    )
