"""Gate use cases: policies on (model, alias), evaluations attached to versions, checks,
overrides, and the promotion check every alias move goes through.

A promotion to a gated alias (:func:`shipyard.registry.aliases.set_alias`, directly or by an
approved request) calls :func:`promotion_gate`: a fresh passing verdict for the same version,
policy digest, evaluation (hence dataset) and baseline is reused; otherwise the gate is
checked now. A failure refuses the move with ``PreconditionFailed`` (412) listing the failing
rules, unless a maintainer recorded an override (``registry.gate``) with a justification.
Every check, override and policy change is an event in the audit chain.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.artifacts.backends import BlobStore
from shipyard.errors import InvalidArgument, NotFound, PreconditionFailed
from shipyard.evaluation.schemas import EvaluationOut, EvaluationResult
from shipyard.events import service as events
from shipyard.events.context import Actor
from shipyard.gates.checks import GateContext, RuleOutcome, check_rules
from shipyard.gates.parser import parse_policy, policy_digest
from shipyard.gates.schemas import GatePolicyOut, VerdictOut
from shipyard.gates.tables import GatePolicy, GateVerdict, ModelEvaluation
from shipyard.models.manifest import parse_manifest
from shipyard.projects.tables import Project
from shipyard.registry import aliases, models, versions
from shipyard.registry.guards import register_promotion_check
from shipyard.registry.tables import ModelVersion, RegisteredModel
from shipyard.store.base import utcnow
from shipyard.tracking import inputs

FRESH_FOR = timedelta(hours=24)  # a passing verdict is reused this long (same version, policy, evaluation, baseline)
LIST_LIMIT = 100
Row = TypeVar("Row", ModelEvaluation, GateVerdict)


def _event(
    session: Session, actor: Actor, action: str, project: Project, model: str, alias: str, **details: Any
) -> None:
    events.record(
        session,
        actor,
        action,
        project_id=project.id,
        object_type="gate",
        object_id=f"{model}@{alias}",
        details={"model": model, "alias": alias, **details},
    )


# -- policies -------------------------------------------------------------------------
def policy_out(model: RegisteredModel, row: GatePolicy) -> GatePolicyOut:
    return GatePolicyOut(
        model=model.name,
        alias=row.alias,
        text=row.text,
        digest=row.digest,
        rules=[r.text for r in parse_policy(row.text)],
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )


def set_policy(session: Session, actor: Actor, project: Project, name: str, alias: str, text: str) -> GatePolicyOut:
    """Attach (or replace) the policy gating ``@alias`` of ``name``."""
    aliases.check_alias(alias)
    digest = policy_digest(text)  # parses: a bad policy is a 400 naming line, column and token
    model = models.get_for_update(session, project, name)
    row = session.get(GatePolicy, (model.id, alias))
    if row is None:
        row = GatePolicy(
            model_id=model.id, alias=alias, project_id=project.id, text=text, digest=digest, updated_by=actor.name
        )
        session.add(row)
    else:
        row.text, row.digest, row.updated_by, row.updated_at = text, digest, actor.name, utcnow()
    session.flush()
    _event(session, actor, "gate_policy.set", project, name, alias, digest=digest, text=text)
    return policy_out(model, row)


def _policy(session: Session, project: Project, name: str, alias: str) -> tuple[RegisteredModel, GatePolicy]:
    model = models.get(session, project, name)
    row = session.get(GatePolicy, (model.id, alias))
    if row is None:
        raise NotFound(f"@{alias} of '{name}' has no gate policy", {"resource": "gate_policy", "alias": alias})
    return model, row


def get_policy(session: Session, project: Project, name: str, alias: str) -> GatePolicyOut:
    return policy_out(*_policy(session, project, name, alias))


def delete_policy(session: Session, actor: Actor, project: Project, name: str, alias: str) -> None:
    _, row = _policy(session, project, name, alias)
    session.delete(row)
    session.flush()
    _event(session, actor, "gate_policy.delete", project, name, alias)


def list_policies(session: Session, project: Project, name: str) -> list[GatePolicyOut]:
    model = models.get(session, project, name)
    rows = session.scalars(select(GatePolicy).where(GatePolicy.model_id == model.id).order_by(GatePolicy.alias))
    return [policy_out(model, r) for r in rows]


# -- evaluations ----------------------------------------------------------------------
def evaluation_out(model: RegisteredModel, version: ModelVersion, row: ModelEvaluation) -> EvaluationOut:
    return EvaluationOut(
        id=row.id,
        model=model.name,
        version=version.version,
        run_id=row.run_id,
        dataset_digest=row.dataset_digest,
        baseline_version=row.baseline_version,
        created_by=row.created_by,
        created_at=row.created_at,
        result=EvaluationResult.model_validate(row.result),
    )


def record_evaluation(
    session: Session, actor: Actor, project: Project, name: str, number: int, result: EvaluationResult
) -> EvaluationOut:
    """Attach an evaluation to version ``number`` of ``name``."""
    model, version = versions.get(session, project, name, number)
    if result.model.name not in (None, name) or result.model.version not in (None, number):
        raise InvalidArgument(
            f"the result evaluates {result.model.name} v{result.model.version}, not {name} v{number}",
            {"field": "result.model"},
        )
    row = ModelEvaluation(
        project_id=project.id,
        model_id=model.id,
        version_id=version.id,
        run_id=result.run_id,
        dataset_name=result.dataset.name if result.dataset else None,
        dataset_digest=result.dataset.digest if result.dataset else None,
        baseline_version=result.baseline.version if result.baseline else None,
        result=result.model_dump(mode="json"),
        created_by=actor.name,
    )
    session.add(row)
    session.flush()
    models.event(
        session, actor, "model_version.evaluate", model, version=number, evaluation=row.id, run_id=result.run_id
    )
    return evaluation_out(model, version, row)


def _newest(session: Session, table: type[Row], version: ModelVersion, limit: int = LIST_LIMIT) -> list[Row]:
    """The version's evaluations or verdicts, newest first."""
    stmt = select(table).where(table.version_id == version.id).order_by(table.id.desc()).limit(limit)
    return list(session.scalars(stmt))


def _latest_evaluation(session: Session, version: ModelVersion) -> ModelEvaluation | None:
    return next(iter(_newest(session, ModelEvaluation, version, 1)), None)


def list_evaluations(session: Session, project: Project, name: str, number: int) -> list[EvaluationOut]:
    """The version's evaluations, newest first (at most ``LIST_LIMIT``)."""
    model, version = versions.get(session, project, name, number)
    return [evaluation_out(model, version, r) for r in _newest(session, ModelEvaluation, version)]


# -- checks ---------------------------------------------------------------------------
def _serialization(store: BlobStore | None, version: ModelVersion) -> str | None:
    if store is None or version.manifest_digest is None:
        return None
    return parse_manifest(store.read_bytes(version.manifest_digest)).serialization


def _current(session: Session, project: Project, name: str, alias: str) -> ModelVersion | None:
    try:
        return aliases.resolve(session, project, name, alias)[1]
    except NotFound:
        return None


def _context(
    session: Session,
    store: BlobStore | None,
    project: Project,
    model: RegisteredModel,
    version: ModelVersion,
    alias: str,
) -> tuple[GateContext, ModelEvaluation | None]:
    current = _current(session, project, model.name, alias)
    evaluation = _latest_evaluation(session, version)
    result = None if evaluation is None else EvaluationResult.model_validate(evaluation.result)
    registered = None
    if result is not None and result.dataset is not None:
        registered = inputs.dataset_registered_at(session, project, result.dataset.name, result.dataset.digest)
    ctx = GateContext(
        model=model.name,
        alias=alias,
        candidate_version=version.version,
        current_version=None if current is None else current.version,
        evaluation=result,
        serialization=_serialization(store, version),
        candidate_signature=version.signature,
        baseline_signature=None if current is None else current.signature,
        dataset_registered_at=registered,
        now=utcnow(),
    )
    return ctx, evaluation


def verdict_out(model: RegisteredModel, version: ModelVersion, row: GateVerdict) -> VerdictOut:
    return VerdictOut(
        id=row.id,
        model=model.name,
        version=version.version,
        alias=row.alias,
        passed=row.passed,
        overridden=row.overridden_by is not None,
        overridden_by=row.overridden_by,
        justification=row.justification,
        policy_digest=row.policy_digest,
        evaluation_id=row.evaluation_id,
        baseline_version=row.baseline_version,
        outcomes=[RuleOutcome.model_validate(o) for o in row.result.get("outcomes", [])],
        created_by=row.created_by,
        created_at=row.created_at,
    )


def _run_check(
    session: Session,
    store: BlobStore | None,
    actor: Actor,
    project: Project,
    model: RegisteredModel,
    version: ModelVersion,
    policy: GatePolicy,
) -> GateVerdict:
    ctx, evaluation = _context(session, store, project, model, version, policy.alias)
    outcomes = check_rules(parse_policy(policy.text), ctx)
    row = GateVerdict(
        project_id=project.id,
        model_id=model.id,
        version_id=version.id,
        alias=policy.alias,
        policy_digest=policy.digest,
        evaluation_id=None if evaluation is None else evaluation.id,
        baseline_version=ctx.current_version,
        passed=all(o.passed for o in outcomes),
        result={"outcomes": [o.model_dump(mode="json") for o in outcomes]},
        created_by=actor.name,
    )
    session.add(row)
    session.flush()
    failing = [o.rule for o in outcomes if not o.passed]
    _event(
        session,
        actor,
        "gate.check",
        project,
        model.name,
        policy.alias,
        version=version.version,
        verdict=row.id,
        passed=row.passed,
        failing=failing,
    )
    return row


def check(
    session: Session, store: BlobStore | None, actor: Actor, project: Project, name: str, number: int, alias: str
) -> VerdictOut:
    """Check ``@alias``'s policy against version ``number`` now, and record the verdict."""
    model, policy = _policy(session, project, name, alias)
    _, version = versions.get(session, project, name, number)
    return verdict_out(model, version, _run_check(session, store, actor, project, model, version, policy))


def list_verdicts(session: Session, project: Project, name: str, number: int) -> list[VerdictOut]:
    model, version = versions.get(session, project, name, number)
    return [verdict_out(model, version, r) for r in _newest(session, GateVerdict, version)]


def override(
    session: Session,
    store: BlobStore | None,
    actor: Actor,
    project: Project,
    name: str,
    number: int,
    alias: str,
    justification: str,
) -> VerdictOut:
    """Let version ``number`` pass ``@alias``'s gate despite failing rules, with a written
    justification (the route requires ``registry.gate``). A passing gate needs no override:
    the check's verdict is returned as is."""
    text = justification.strip()
    if len(text) < 10:
        raise InvalidArgument(
            "an override needs a written justification (at least 10 characters)", {"field": "justification"}
        )
    model, policy = _policy(session, project, name, alias)
    _, version = versions.get(session, project, name, number)
    verdict = _run_check(session, store, actor, project, model, version, policy)
    if verdict.passed:
        return verdict_out(model, version, verdict)
    verdict.overridden_by = actor.name
    verdict.justification = text
    session.flush()
    failing = [o["rule"] for o in verdict.result["outcomes"] if o["status"] == "fail"]
    _event(
        session,
        actor,
        "gate.override",
        project,
        name,
        alias,
        version=number,
        verdict=verdict.id,
        justification=text,
        failing=failing,
    )
    return verdict_out(model, version, verdict)


# -- promotion ------------------------------------------------------------------------
def _reusable(
    session: Session, version: ModelVersion, policy: GatePolicy, evaluation_id: int | None, baseline: int | None
) -> GateVerdict | None:
    """The newest verdict that still applies: same policy, evaluation and baseline; a pass
    younger than ``FRESH_FOR``, or an override."""
    rows = session.scalars(
        select(GateVerdict)
        .where(
            GateVerdict.version_id == version.id,
            GateVerdict.alias == policy.alias,
            GateVerdict.policy_digest == policy.digest,
        )
        .order_by(GateVerdict.id.desc())
        .limit(20)
    )
    now = utcnow()
    for row in rows:
        if row.overridden_by is not None and row.baseline_version == baseline:
            return row
        if (
            row.passed
            and row.evaluation_id == evaluation_id
            and row.baseline_version == baseline
            and now - row.created_at <= FRESH_FOR
        ):
            return row
    return None


def promotion_gate(
    session: Session,
    store: BlobStore | None,
    actor: Actor,
    project: Project,
    model: RegisteredModel,
    version: ModelVersion,
    alias: str,
) -> dict[str, Any]:
    """Allow or refuse moving ``@alias`` to ``version``: details for the alias event, or
    :class:`PreconditionFailed` naming the failing rules."""
    policy = session.get(GatePolicy, (model.id, alias))
    if policy is None:
        return {}
    current = _current(session, project, model.name, alias)
    evaluation = _latest_evaluation(session, version)
    baseline = None if current is None else current.version
    reused = _reusable(session, version, policy, None if evaluation is None else evaluation.id, baseline)
    verdict = reused or _run_check(session, store, actor, project, model, version, policy)
    if verdict.passed or verdict.overridden_by is not None:
        return {
            "gate": {
                "verdict": verdict.id,
                "passed": verdict.passed,
                "overridden_by": verdict.overridden_by,
                "reused": reused is not None,
            }
        }
    failing = [RuleOutcome.model_validate(o) for o in verdict.result["outcomes"] if o["status"] == "fail"]
    listed = "; ".join(f"'{o.rule}': {o.message}" for o in failing)
    raise PreconditionFailed(
        f"version {version.version} of '{model.name}' fails the gate of @{alias}: {listed}. Fix: improve the model "
        f"and evaluate it again, or have a maintainer override with "
        f"'shipyard gates override {model.name} {version.version} --alias {alias} --justification <why>'",
        {
            "resource": "gate",
            "name": model.name,
            "alias": alias,
            "version": version.version,
            "reason": "gate_failed",
            "verdict": verdict.id,
            "failing_rules": [o.rule for o in failing],
            "fix": f"shipyard gates override {model.name} {version.version} --alias {alias} --justification '<why>'",
        },
    )


register_promotion_check(promotion_gate)

__all__ = [
    "check",
    "delete_policy",
    "get_policy",
    "list_evaluations",
    "list_policies",
    "list_verdicts",
    "override",
    "promotion_gate",
    "record_evaluation",
    "set_policy",
]
