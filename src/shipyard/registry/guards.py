"""Deletion guards: other domains say what still references a model or a version.

The deployment domain registers a guard that names the endpoints serving a version;
until then no deployment can reference one. Aliases are checked by the registry itself.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

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
