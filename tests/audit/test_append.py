"""Appending: every service's change lands in the chain at commit; nothing else pays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from shipyard.audit.append import STAGED, _chain
from shipyard.audit.checkpoints import Notary
from shipyard.audit.tables import AuditCheckpoint, AuditHead
from shipyard.client import Client
from shipyard.events import service as events
from shipyard.events.tables import Event
from shipyard.models import save_model
from shipyard.settings import Settings
from shipyard.store.engine import Database

from .conftest import ANA, record, rows, sql, verify


def test_the_golden_path_is_chained_in_commit_order(
    settings: Settings, db: Database, notary: Notary, iris_model: Any, tmp_path: Path
) -> None:
    with Client(settings=settings) as client:
        client.create_project("churn")
        exp = client.create_experiment("baseline", project="churn")
        run = client.create_run(experiment_id=exp.id, project="churn")
        client.log_batch(run.id, params={"C": 1.0}, tags={"team": "ml"}, project="churn")
        model, frame = iris_model
        save_model(model, tmp_path / "model", input_example=frame.head(3))
        client.log_artifacts(run.id, tmp_path / "model", artifact_path="model", project="churn")
        client.update_run(run.id, status="FINISHED", project="churn")
        client.register_model(f"runs:/{run.id}/model", "churn-model", project="churn")
        client.set_alias("churn-model", "staging", 1, project="churn")
        entries = list(client.iter_audit_entries())
    actions = [e.action for e in entries]
    for expected in ("experiment.create", "run.create", "run.log", "model_version.create", "model_alias.set"):
        assert expected in actions
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert all(entries[i].prev_hash == entries[i - 1].hash for i in range(1, len(entries)))
    assert {e.project for e in entries} == {"churn"}
    assert all(e.actor and e.request_id for e in entries)
    report = verify(db, notary)
    assert report.ok, report.problem
    assert report.entries == len(entries)


def test_request_source_and_id_are_recorded(db: Database, notary: Notary) -> None:
    record(db, 1)
    [(source, request_id)] = rows(db, "SELECT source, request_id FROM events")
    assert (source, request_id) == (ANA.source, ANA.request_id)


def test_metric_only_batches_and_reads_record_nothing_and_attach_no_listener(settings: Settings, db: Database) -> None:
    with Client(settings=settings) as client:
        run = client.create_run()
        before = client.audit_head().seq
        client.log_batch(run.id, metrics=[("loss", 0.5, i, None) for i in range(100)])
        client.get_metric_history(run.id, "loss")
        assert client.audit_head().seq == before
    with db.session(readonly=True) as session:
        session.scalars(select(Event)).all()
        assert not event.contains(session, "before_commit", _chain)
    with db.session() as session:
        session.scalar(select(func.count()).select_from(Event))
        assert not event.contains(session, "before_commit", _chain)


def test_an_event_joins_the_chain_only_when_its_unit_of_work_commits(db: Database, notary: Notary) -> None:
    with db.session() as session:
        events.record(session, ANA, "test.staged", project_id=None, object_type="t", object_id="1")
        assert session.scalar(select(func.count()).select_from(Event)) == 0  # staged, not yet written
    assert rows(db, "SELECT seq, action FROM events") == [(1, "test.staged")]


def test_rolled_back_work_leaves_no_entry(db: Database, notary: Notary) -> None:
    session = db.sessions()
    try:
        events.record(session, ANA, "test.lost", project_id=None, object_type="t", object_id="1")
        session.rollback()
        assert STAGED not in session.info
        events.record(session, ANA, "test.kept", project_id=None, object_type="t", object_id="2")
        session.commit()
    finally:
        session.close()
    assert rows(db, "SELECT seq, action FROM events") == [(1, "test.kept")]


def test_a_rolled_back_savepoint_drops_only_its_own_events(db: Database, notary: Notary) -> None:
    def rec(session: Session, action: str) -> None:
        events.record(session, ANA, action, project_id=None, object_type="t", object_id=action)

    with db.session() as session:
        rec(session, "outer.before")
        with session.begin_nested():
            rec(session, "released")
        savepoint = session.begin_nested()
        rec(session, "rolled.back")
        inner = session.begin_nested()
        rec(session, "rolled.back.inner")
        inner.commit()
        savepoint.rollback()
        rec(session, "outer.after")
    actions = [a for _, a in rows(db, "SELECT seq, action FROM events ORDER BY seq")]
    assert actions == ["outer.before", "released", "outer.after"]
    assert verify(db, notary).ok


def test_checkpoints_are_signed_every_interval_in_the_same_unit_of_work(db: Database, notary: Notary) -> None:
    record(db, 25)
    sizes = [r[0] for r in rows(db, "SELECT tree_size FROM audit_checkpoints ORDER BY id")]
    assert sizes == [10, 20]
    with db.session(readonly=True) as session:
        head = session.scalars(select(AuditHead)).one()
        assert (head.seq, head.checkpoint_seq) == (25, 20)
        cp = session.scalars(select(AuditCheckpoint).where(AuditCheckpoint.tree_size == 20)).one()
        assert cp.head_hash == session.scalar(select(Event.hash).where(Event.seq == 20))
        assert cp.key_id == notary.signer.key_id
    report = verify(db, notary)
    assert (report.ok, report.checkpoints, report.latest_checkpoint, report.unsigned_entries) == (True, 2, 20, 5)


def test_an_unattached_database_chains_without_signing(db: Database, settings: Settings) -> None:
    record(db, 12)
    assert rows(db, "SELECT count(*) FROM audit_checkpoints") == [(0,)]
    report = verify(db, Notary.from_settings(settings))
    assert report.problem is not None
    assert report.problem.kind == "missing_checkpoint"  # 12 unsigned entries, interval 10


def test_a_lost_head_row_is_rebuilt_from_the_chain(db: Database, notary: Notary) -> None:
    record(db, 3)
    sql(db, "DELETE FROM audit_head")
    record(db, 2)
    assert [r[0] for r in rows(db, "SELECT seq FROM events ORDER BY seq")] == [1, 2, 3, 4, 5]
    assert verify(db, notary).ok


def test_the_signing_key_is_private_and_reused(settings: Settings, db: Database) -> None:
    first = Notary.from_settings(settings)
    key = settings.home / "keys" / "audit-signing.pem"
    assert key.stat().st_mode & 0o777 == 0o600
    assert key.parent.stat().st_mode & 0o777 == 0o700
    assert Notary.from_settings(settings).signer.key_id == first.signer.key_id
