"""Guards: other domains say what still references a model or a version (deletion), and
whether an alias may move to a version (promotion).

The deployment domain registers a guard that names the endpoints serving a version;
until then no deployment can reference one. Aliases are checked by the registry itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from shipyard.artifacts.backends import BlobStore
    from shipyard.events.context import Actor
    from shipyard.projects.tables import Project
    from shipyard.registry.tables import ModelVersion, RegisteredModel

# guard(session, model_id, version_id) -> reasons the object is still in use
Guard = Callable[[Session, str, str | None], list[str]]
_GUARDS: list[Guard] = []


def register_guard(guard: Guard) -> None:
    _GUARDS.append(guard)


def deletion_blockers(session: Session, *, model_id: str, version_id: str | None = None) -> list[str]:
    reasons: list[str] = []
    for guard in _GUARDS:
        reasons.extend(guard(session, model_id, version_id))
    return reasons


# Promotion checks: other domains say whether ``@alias`` may move to a version. A check
# returns details for the alias event (empty: nothing to say) or raises to refuse the move.
# The gates domain registers one (shipyard.gates.service.promotion_gate).
PromotionCheck = Callable[
    [Session, "BlobStore | None", "Actor", "Project", "RegisteredModel", "ModelVersion", str], dict[str, Any]
]
_PROMOTION_CHECKS: list[PromotionCheck] = []


def register_promotion_check(check: PromotionCheck) -> None:
    if check not in _PROMOTION_CHECKS:
        _PROMOTION_CHECKS.append(check)


def promotion_details(
    session: Session,
    store: BlobStore | None,
    actor: Actor,
    project: Project,
    model: RegisteredModel,
    version: ModelVersion,
    alias: str,
) -> dict[str, Any]:
    details: dict[str, Any] = {}
    for check in _PROMOTION_CHECKS:
        details |= check(session, store, actor, project, model, version, alias)
    return details
