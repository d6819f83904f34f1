"""Four-eyes changes to protected aliases: request, approve, reject, cancel.

A protected alias (:func:`shipyard.registry.aliases.protect`) cannot be moved or removed
directly. Someone with ``registry.write`` *requests* the change, with a comment; someone
else with ``registry.approve`` *approves* it (the change is applied in the same unit of
work, through :func:`~shipyard.registry.aliases.set_alias` /
:func:`~shipyard.registry.aliases.delete_alias`) or *rejects* it, with a comment either
way; the requester may *cancel* it. The rules, in the order they are checked:

* a decision needs a pending request (``approved``, ``rejected``, ``cancelled`` are final);
* four eyes: the requester can neither approve nor reject their own request (they cancel
  it), whatever their roles, ``org_admin`` and local mode included;
* approving re-checks the request against the registry: the alias must still point where
  it did when the request was made, and the target version must still exist and be
  ``READY``; otherwise the request is *stale* (409) and stays pending, to be rejected or
  cancelled;
* at most one pending request per model and alias: another is refused (409) naming it.

Every step is an event (``alias_request.create|approve|reject|cancel``) in the audit chain,
with the comments.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.artifacts.backends import BlobStore
from shipyard.errors import Conflict, InvalidArgument, NotFound, PermissionDenied
from shipyard.events import service as events
from shipyard.events.context import Actor
from shipyard.projects.tables import Project
from shipyard.registry import aliases, models
from shipyard.registry.schemas import AliasRequestCreate, RequestStatus, VersionStatus
from shipyard.registry.tables import AliasChangeRequest, ModelAlias, ModelVersion, RegisteredModel
from shipyard.store.base import utcnow
from shipyard.store.pagination import Page, paginate

PENDING = RequestStatus.PENDING.value


def _required(comment: str, what: str) -> str:
    text = comment.strip()
    if not text:
        raise InvalidArgument(f"comment is required to {what}", {"field": "comment"})
    return text


def _current_version(session: Session, model: RegisteredModel, alias: str) -> int | None:
    current = session.get(ModelAlias, (model.id, alias))
    if current is None:
        return None
    return session.scalar(select(ModelVersion.version).where(ModelVersion.id == current.version_id))


def _event(session: Session, actor: Actor, action: str, row: AliasChangeRequest, model: str, **extra: object) -> None:
    events.record(
        session,
        actor,
        action,
        project_id=row.project_id,
        object_type="alias_request",
        object_id=str(row.id),
        details={
            "model": model,
            "alias": row.alias,
            "from_version": row.from_version,
            "to_version": row.to_version,
            "requested_by": row.requested_by,
            **extra,
        },
    )


def create(session: Session, actor: Actor, project: Project, data: AliasRequestCreate) -> AliasChangeRequest:
    """Request that ``data.alias`` of ``data.model`` point at ``data.version`` (or, with
    no version, be removed)."""
    aliases.check_alias(data.alias)
    comment = _required(data.comment, "request a change")
    model = models.get_for_update(session, project, data.model)  # serialises requests on this model
    if not aliases.is_protected(session, project, data.alias):
        raise Conflict(
            f"alias @{data.alias} is not protected in project '{project.name}'; set it directly",
            {"resource": "protected_alias", "alias": data.alias, "reason": "not_protected"},
        )
    current = _current_version(session, model, data.alias)
    if data.version is None:
        if current is None:
            raise NotFound(
                f"registered model '{model.name}' has no alias @{data.alias}",
                {"resource": "model_alias", "alias": data.alias},
            )
    else:
        version = session.scalar(
            select(ModelVersion).where(
                ModelVersion.model_id == model.id,
                ModelVersion.version == data.version,
                ModelVersion.deleted_at.is_(None),
            )
        )
        if version is None:
            raise NotFound(
                f"registered model '{model.name}' has no version {data.version}",
                {"resource": "model_version", "name": model.name, "version": data.version},
            )
        if version.status != VersionStatus.READY.value:
            raise Conflict(
                f"version {data.version} of '{model.name}' is {version.status}; only READY versions can carry an alias",
                {"resource": "model_version", "version": data.version, "status": version.status},
            )
        if current == data.version:
            raise Conflict(
                f"@{data.alias} of '{model.name}' already points at version {data.version}",
                {"resource": "model_alias", "alias": data.alias, "reason": "no_change"},
            )
    pending = session.scalar(
        select(AliasChangeRequest.id).where(
            AliasChangeRequest.model_id == model.id,
            AliasChangeRequest.alias == data.alias,
            AliasChangeRequest.status == PENDING,
        )
    )
    if pending is not None:
        raise Conflict(
            f"request {pending} for @{data.alias} of '{model.name}' is still pending; "
            "have it decided, or cancel it (its requester) before asking again",
            {"resource": "alias_request", "id": pending, "reason": "pending_request"},
        )
    row = AliasChangeRequest(
        project_id=project.id,
        model_id=model.id,
        alias=data.alias,
        from_version=current,
        to_version=data.version,
        requested_by=actor.name,
        comment=comment,
        status=PENDING,
    )
    session.add(row)
    session.flush()
    _event(session, actor, "alias_request.create", row, model.name, comment=comment)
    return row


def get(session: Session, project: Project, request_id: int, *, for_update: bool = False) -> AliasChangeRequest:
    stmt = select(AliasChangeRequest).where(
        AliasChangeRequest.id == request_id, AliasChangeRequest.project_id == project.id
    )
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    row = session.scalar(stmt)
    if row is None:
        raise NotFound(
            f"alias change request {request_id} does not exist in project '{project.name}'",
            {"resource": "alias_request", "id": request_id},
        )
    return row


def _pending(session: Session, project: Project, request_id: int) -> tuple[AliasChangeRequest, RegisteredModel]:
    """The request, locked (concurrent decisions on it queue up), and its model."""
    row = get(session, project, request_id, for_update=True)
    if row.status != PENDING:
        raise Conflict(
            f"request {request_id} is already {row.status}",
            {"resource": "alias_request", "id": request_id, "status": row.status, "reason": "decided"},
        )
    model = session.get(RegisteredModel, row.model_id)
    assert model is not None  # the foreign key cascades
    return row, model


def _four_eyes(row: AliasChangeRequest, actor: Actor, verb: str) -> None:
    if row.requested_by == actor.name:
        raise Conflict(
            f"'{actor.name}' requested change {row.id} and cannot {verb} it: another maintainer must "
            "(four eyes); the requester can cancel it",
            {"resource": "alias_request", "id": row.id, "reason": "four_eyes"},
        )


def _decide(row: AliasChangeRequest, actor: Actor, status: RequestStatus, comment: str) -> None:
    row.status = status.value
    row.decided_by = actor.name
    row.decision_comment = comment
    row.decided_at = utcnow()


def approve(
    session: Session, actor: Actor, project: Project, request_id: int, comment: str, *, store: BlobStore | None = None
) -> AliasChangeRequest:
    """Approve a pending request and apply it, in this unit of work (a gated alias must
    pass its gate too: ``store`` lets the gate read the version's manifest)."""
    text = _required(comment, "approve a change")
    row, model = _pending(session, project, request_id)
    _four_eyes(row, actor, "approve")
    model = models.get_for_update(session, project, model.name)
    _check_fresh(session, row, model)
    if row.to_version is not None:
        aliases.set_alias(session, actor, project, model.name, row.alias, row.to_version, approval=row.id, store=store)
    else:
        aliases.delete_alias(session, actor, project, model.name, row.alias, approval=row.id)
    _decide(row, actor, RequestStatus.APPROVED, text)
    session.flush()
    _event(session, actor, "alias_request.approve", row, model.name, comment=text)
    return row


def _check_fresh(session: Session, row: AliasChangeRequest, model: RegisteredModel) -> None:
    def stale(why: str) -> Conflict:
        return Conflict(
            f"request {row.id} is stale: {why}; reject it, or cancel it and request again",
            {"resource": "alias_request", "id": row.id, "reason": "stale"},
        )

    current = _current_version(session, model, row.alias)
    if current != row.from_version:
        was = f"version {row.from_version}" if row.from_version is not None else "nothing"
        now = f"version {current}" if current is not None else "nothing"
        raise stale(f"@{row.alias} pointed at {was} when it was requested and now points at {now}")
    if row.to_version is None:
        return
    version = session.scalar(
        select(ModelVersion).where(ModelVersion.model_id == model.id, ModelVersion.version == row.to_version)
    )
    if version is None or version.deleted_at is not None:
        raise stale(f"version {row.to_version} of '{model.name}' has been deleted")
    if version.status != VersionStatus.READY.value:
        raise stale(f"version {row.to_version} of '{model.name}' is {version.status}, not READY")


def reject(session: Session, actor: Actor, project: Project, request_id: int, comment: str) -> AliasChangeRequest:
    text = _required(comment, "reject a change")
    row, model = _pending(session, project, request_id)
    _four_eyes(row, actor, "reject")
    _decide(row, actor, RequestStatus.REJECTED, text)
    session.flush()
    _event(session, actor, "alias_request.reject", row, model.name, comment=text)
    return row


def cancel(session: Session, actor: Actor, project: Project, request_id: int, comment: str) -> AliasChangeRequest:
    """Withdraw a pending request: its requester only (reviewers reject instead)."""
    row, model = _pending(session, project, request_id)
    if row.requested_by != actor.name:
        raise PermissionDenied(
            f"only '{row.requested_by}', who requested change {row.id}, can cancel it; a reviewer rejects it instead",
            {"permission": None, "project": project.name, "reason": "not_requester"},
        )
    text = comment.strip()
    _decide(row, actor, RequestStatus.CANCELLED, text)
    session.flush()
    _event(session, actor, "alias_request.cancel", row, model.name, comment=text)
    return row


def list_requests(
    session: Session,
    project: Project,
    *,
    status: str | None,
    model: str | None,
    alias: str | None,
    page_token: str | None,
    page_size: int,
) -> Page[AliasChangeRequest]:
    """The project's requests, newest first; filters combine."""
    stmt = select(AliasChangeRequest).where(AliasChangeRequest.project_id == project.id)
    if status:
        if status not in {s.value for s in RequestStatus}:
            raise InvalidArgument(
                f"status must be one of {', '.join(s.value for s in RequestStatus)}, got '{status[:40]}'",
                {"field": "status"},
            )
        stmt = stmt.where(AliasChangeRequest.status == status)
    if model:
        stmt = stmt.join(RegisteredModel, RegisteredModel.id == AliasChangeRequest.model_id).where(
            RegisteredModel.name == model
        )
    if alias:
        stmt = stmt.where(AliasChangeRequest.alias == alias)
    return paginate(
        session,
        stmt,
        [AliasChangeRequest.id],
        scope=f"alias-requests:{project.id}:{status}:{model}:{alias}",
        page_token=page_token,
        page_size=page_size,
        key_of=lambda r: [r.id],
        descending=True,
    )
