"""The golden path walk-through. Each capability Shipyard gains adds its step here."""

from __future__ import annotations

import csv
import hashlib
import io
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

import shipyard as sy
from shipyard import sdk
from shipyard.auth.bootstrap import create_user_with_token
from shipyard.client import Client
from shipyard.demo.background_server import serve_in_thread
from shipyard.errors import AlreadyExists, Conflict, PermissionDenied
from shipyard.events.context import Actor
from shipyard.server.app import create_app
from shipyard.settings import Settings
from shipyard.store.engine import Database

DEMO_PROJECT = "demo"
DEMO_EXPERIMENT = "breast-cancer"
DEMO_MODEL = "tumor-classifier"
DEMO_ADMIN = "demo-admin"
DEMO_VIEWER = "demo-viewer"
DEMO_APPROVER = "demo-approver"
GATED = "champion"  # the alias whose moves the gate checks


def make_dataset(rows: int = 2000, seed: int = 7) -> bytes:
    """A small, deterministic tabular dataset (credit-risk-like), generated, not downloaded."""
    rng = random.Random(seed)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["age", "income", "debt_ratio", "late_payments", "defaulted"])
    for _ in range(rows):
        age = rng.randint(21, 75)
        income = round(rng.lognormvariate(10.5, 0.5), 2)
        debt = round(rng.random(), 4)
        late = rng.choice([0, 0, 0, 1, 2, 3])
        risk = 0.3 * debt + 0.15 * late - 0.000002 * income + rng.gauss(0, 0.1)
        writer.writerow([age, income, debt, late, int(risk > 0.35)])
    return buf.getvalue().encode()


class Demo:
    def __init__(self, settings: Settings, console: Console) -> None:
        self.settings = settings
        self.console = console
        self.step_no = 0

    def step(self, title: str, body: Callable[[], None]) -> None:
        self.step_no += 1
        self.console.rule(f"[bold]{self.step_no}. {title}")
        started = time.perf_counter()
        body()
        self.console.print(f"[green]✓[/] {title} ({time.perf_counter() - started:.2f}s)")

    def run(self) -> None:
        s = self.settings
        self.console.print(
            Panel.fit(
                "Shipyard demo: the golden path on the embedded default\n"
                f"home: {s.home}\ndatabase: {s.database_url}\nartifacts: {s.artifacts_url}",
                title="shipyard demo",
            )
        )
        local = sy.connect(settings=s, project=DEMO_PROJECT)
        try:
            self.step("Start local mode (no server, same API in-process)", lambda: self._local(local))
            self.step(f"Create project '{DEMO_PROJECT}'", lambda: self._project(local))
            self.step("Store a dataset as an immutable, content-addressed artifact", lambda: self._artifact(local))
            self.step("Train a classifier as a tracked run with a dataset input", self._train)
            self.step("Register it and point @staging at it", lambda: self._register(local))
            self.step("Load it back by alias (every file's sha256 verified) and predict", self._load)
            self.step("Search runs and read the event trail", lambda: self._search(local))
        finally:
            sdk._close()
        with self._authenticated_server() as remote:
            self.step(
                "Serve the same stores over HTTP, authentication on, and check health", lambda: self._server(remote)
            )
            self.step("Deny by default: no token → 401, a viewer moving an alias → 403", lambda: self._deny(remote))
            self.step(
                "Protect @production: moving it takes a second maintainer's approval", lambda: self._four_eyes(remote)
            )
        self.step(f"Serve models:/{DEMO_MODEL}@staging and send it real requests", self._serve_model)
        self._endpoint_steps()
        self.step("Read the audit trail, verify its hash chain and signed checkpoints, export it", self._audit)
        self.console.print(
            Panel.fit(
                "Done. Next: [bold]shipyard server[/] and open http://127.0.0.1:8765/api/v1/docs\n"
                "Try: shipyard runs search -p demo -f 'metrics.auc > 0.99' · shipyard models list -p demo\n"
                f"     shipyard models alias-history -p demo {DEMO_MODEL} · shipyard audit verify\n"
                f"     shipyard endpoints history -p demo tumor · shipyard endpoints serve -p demo tumor\n"
                f"     shipyard gates check -p demo {DEMO_MODEL} 3 --alias {GATED}\n"
                "     shipyard monitor results -p demo tumor-drift · shipyard monitor report -p demo tumor-drift\n"
                "     shipyard alerts list -p demo · open ~/.shipyard/reports/tumor-drift.html (or $SHIPYARD_HOME/…)",
                title="what now",
            )
        )

    def _local(self, client: Client) -> None:
        info = client.server_info()
        self.console.print(
            f"Shipyard {info['version']} · schema {info['schema_revision']} · "
            f"{info['database_backend']} + {info['artifact_backend']}"
        )

    def _project(self, client: Client) -> None:
        try:
            project = client.create_project(DEMO_PROJECT, "Created by `shipyard demo`.")
            self.console.print(f"created project [bold]{project.name}[/] ({project.id})")
        except AlreadyExists:
            project = client.get_project(DEMO_PROJECT)
            self.console.print(
                f"project [bold]{project.name}[/] already exists (created {project.created_at:%Y-%m-%d})"
            )

    def _artifact(self, client: Client) -> None:
        data = make_dataset()
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "credit.csv"
            src.write_bytes(data)
            info = client.upload_blob(src, project=DEMO_PROJECT)
            self.console.print(f"uploaded credit.csv: {info.size} bytes → sha256:{info.digest}")
            back = client.download_blob(info.digest, Path(tmp) / "credit-copy.csv", project=DEMO_PROJECT)
            same = hashlib.sha256(back.read_bytes()).hexdigest() == info.digest
            self.console.print(f"downloaded it again and verified the digest: {'identical' if same else 'DIFFERENT'}")
            again = client.upload_blob(src, project=DEMO_PROJECT)
            self.console.print(f"uploading the same bytes again is a no-op: same digest {again.digest == info.digest}")

    def _train(self) -> None:
        from sklearn.datasets import load_breast_cancer
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import accuracy_score, roc_auc_score
        from sklearn.model_selection import train_test_split
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        data = load_breast_cancer(as_frame=True)
        x_train, x_test, y_train, y_test = train_test_split(
            data.data, data.target, test_size=0.25, random_state=7, stratify=data.target
        )
        self.x_test = x_test
        self.x_train, self.y_train, self.y_test = x_train, y_train, y_test
        experiment = sy.set_experiment(DEMO_EXPERIMENT)
        best: tuple[float, str] | None = None
        for c in (0.01, 0.1, 1.0):
            with sy.start_run(name=f"logreg-C{c}") as run:
                sy.log_params({"model": "logistic_regression", "C": c, "test_size": 0.25})
                sy.log_input(x_train, name="breast-cancer-train", context="training")
                sy.log_input(x_test, name="breast-cancer-test", context="evaluation")
                model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=500)).fit(x_train, y_train)
                for step, frac in enumerate((0.25, 0.5, 0.75, 1.0)):  # a learning curve, as steps
                    n = int(len(x_train) * frac)
                    partial = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=500))
                    partial.fit(x_train[:n], y_train[:n])
                    sy.log_metric("val_accuracy", float(accuracy_score(y_test, partial.predict(x_test))), step=step)
                auc = float(roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]))
                accuracy = float(accuracy_score(y_test, model.predict(x_test)))
                sy.log_metrics({"auc": auc, "accuracy": accuracy})
                logged = sy.log_model(model, "model", input_example=x_test.head(3))
                self.console.print(f"run {run.id[:8]}  C={c:<5} auc={auc:.4f} accuracy={accuracy:.4f}")
                if best is None or auc > best[0]:
                    best = (auc, logged.uri)
                    self.expected = model.predict(x_test)
        assert best is not None
        self.best_uri = best[1]
        self.console.print(f"experiment '{experiment.name}': best run by AUC → {self.best_uri}")

    def _register(self, client: Client) -> None:
        version = sy.register_model(self.best_uri, DEMO_MODEL, description="best AUC of the demo sweep")
        self.version = version.version
        sy.set_alias(DEMO_MODEL, "staging", version.version)
        self.console.print(
            f"{DEMO_MODEL} version {version.version}: {version.status.value}, flavor {version.flavor}, "
            f"{len(version.files)} files, signature with {len((version.signature or {}).get('inputs', []))} inputs"
        )
        self.console.print(f"@staging → version {client.get_version_by_alias(DEMO_MODEL, 'staging').version}")

    def _load(self) -> None:
        import numpy as np

        model = sy.load_model(f"models:/{DEMO_MODEL}@staging")
        predictions = model.predict(self.x_test)
        same = bool(np.array_equal(np.asarray(predictions), self.expected))
        self.console.print(
            f"loaded models:/{DEMO_MODEL}@staging ({model.flavor}); predictions identical to training: {same}"
        )

    def _search(self, client: Client) -> None:
        page = client.search_runs(
            filter="metrics.auc > 0.9 and params.model = 'logistic_regression'",
            order_by=["metrics.auc DESC"],
            max_results=3,
        )
        table = Table("run", "C", "auc")
        for run in page.items:
            table.add_row(run.name, run.params.get("C", ""), f"{run.metrics['auc'].value:.4f}")
        self.console.print("runs where metrics.auc > 0.9, best first:")
        self.console.print(table)
        events = client.list_events(max_results=1000).items
        self.console.print(
            f"{len(events)} events recorded in project '{DEMO_PROJECT}' "
            f"(e.g. {', '.join(sorted({e.action for e in events})[:5])}, …)"
        )

    def _serve_model(self) -> None:
        import httpx

        from shipyard.serving import ServedModel, create_serving_app

        uri = f"models:/{DEMO_MODEL}@staging"
        with Client(settings=self.settings, project=DEMO_PROJECT) as client:
            version = client.resolve_model(uri).version
            path = client.download_model(f"models:/{DEMO_MODEL}/{version}")
        # From here on the model server needs nothing from the control plane.
        app = create_serving_app([ServedModel.from_path(path, name=DEMO_MODEL, version=str(version), uri=uri)])
        rows = self.x_test.head(3)
        with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as http:
            deadline = time.monotonic() + 30
            while http.get("/v2/health/ready").status_code != 200:
                if time.monotonic() > deadline:
                    raise RuntimeError("the model server did not become ready within 30 s")
                time.sleep(0.05)
            v2 = {
                "id": "demo-1",
                "inputs": [
                    {"name": str(c), "shape": [len(rows)], "datatype": "FP64", "data": rows[c].tolist()}
                    for c in rows.columns
                ],
            }
            started = time.perf_counter()
            answer = http.post(f"/v2/models/{DEMO_MODEL}/infer", json=v2)
            elapsed_ms = (time.perf_counter() - started) * 1000
            answer.raise_for_status()
            body = answer.json()
            self.console.print(
                f"POST /v2/models/{DEMO_MODEL}/infer (Open Inference Protocol) → {body['outputs'][0]['data']} "
                f"in {elapsed_ms:.1f} ms, answered by {answer.headers.get('x-shipyard-model-version')}"
            )
            split = {"dataframe_split": {"columns": [str(c) for c in rows.columns], "data": rows.values.tolist()}}
            mlflow = http.post("/invocations", json=split, params={"method": "predict_proba"})
            mlflow.raise_for_status()
            probabilities = [[round(p, 3) for p in row] for row in mlflow.json()["predictions"]]
            self.console.print(f"POST /invocations?method=predict_proba (MLflow format) → {probabilities}")
            bad = http.post(f"/v2/models/{DEMO_MODEL}/infer", json={"inputs": v2["inputs"][:5]})
            self.console.print(f"a request missing columns → {bad.status_code}: {bad.json()['error'][:90]}…")

    def _endpoint_steps(self) -> None:
        from shipyard.demo.canary import ENDPOINT, serve_endpoint

        with Client(settings=self.settings, project=DEMO_PROJECT) as client:
            first = {"model": DEMO_MODEL, "version": self.version, "weight": 100}
            client.apply_endpoint({"name": ENDPOINT, "routes": [first]})
        self.step(
            "Gate @champion: a weak candidate is refused, naming the failing rule; a better one passes", self._gate
        )
        with serve_endpoint(self.settings, DEMO_PROJECT) as url:
            self.step(
                "Canary two new versions behind an endpoint: a broken one rolls back, the gated one rolls out",
                lambda: self._canary(url),
            )
            self.step(
                "Send shifted traffic through the endpoint (every prediction is logged)", lambda: self._shift(url)
            )
        self.step("Feed back labels, run the drift monitor, alert a webhook, write the HTML report", self._monitor)

    def _register_candidate(self, client: Client, label: str, model: Any, signature: Any) -> int:
        """Log ``model`` in a run of its own, with the training data file as its input (the
        drift monitor's reference later), and register it; its version number."""
        from shipyard.client.datasets import describe
        from shipyard.models import save_model

        experiment = client.get_experiment_by_name(DEMO_EXPERIMENT)
        run = client.create_run(experiment.id, name=f"candidate-{label}")
        training = describe(str(self.training_file), name="breast-cancer-train", context="training")
        client.log_inputs(run.id, [training])
        with tempfile.TemporaryDirectory() as tmp:
            save_model(model, Path(tmp) / label, signature=signature)
            client.log_artifacts(run.id, Path(tmp) / label, artifact_path="model")
        client.update_run(run.id, status="FINISHED")
        return client.register_model(f"runs:/{run.id}/model", DEMO_MODEL, description=f"{label} candidate").version

    def _gate(self) -> None:
        from sklearn.compose import ColumnTransformer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        from shipyard.errors import PreconditionFailed
        from shipyard.evaluation.evaluate import evaluate
        from shipyard.models.signature import infer_signature

        x, y = self.x_train, self.y_train
        self.training_file = self.settings.home / "datasets" / "breast-cancer-train.parquet"
        self.training_file.parent.mkdir(parents=True, exist_ok=True)
        x.to_parquet(self.training_file)
        retrained = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=500)).fit(x, y)
        two = list(x.columns[:2])  # the weak candidate looks at two of the 30 features
        keep = ColumnTransformer([("two", "passthrough", two)], remainder="drop")
        weak = make_pipeline(keep, StandardScaler(), LogisticRegression(C=0.001, max_iter=500)).fit(x, y)

        example = self.x_test.head(3)
        self.signature = infer_signature(example, retrained.predict(example))
        holdout = self.x_test.assign(label=self.y_test)
        policy = "auc >= baseline.auc - 0.005\naccuracy >= 0.9\nartifact format in [skops, onnx, xgboost-json]"
        with Client(settings=self.settings, project=DEMO_PROJECT) as client:
            if GATED not in client.get_registered_model(DEMO_MODEL).aliases:  # the first run: the baseline
                client.set_alias(DEMO_MODEL, GATED, self.version)
            client.set_gate_policy(DEMO_MODEL, GATED, policy)
            self.console.print(
                f"gate policy on @{GATED} (what the endpoint should serve):\n  " + policy.replace("\n", "\n  "),
                markup=False,
            )
            weak_version = self._register_candidate(client, "weak", weak, self.signature)
            good_version = self._register_candidate(client, "retrained", retrained, self.signature)
            baseline = f"models:/{DEMO_MODEL}@{GATED}"
            for number in (weak_version, good_version):
                result = evaluate(
                    f"models:/{DEMO_MODEL}/{number}",
                    holdout,
                    targets="label",
                    baseline=baseline,
                    bootstrap=200,
                    latency_requests=0,
                    client=client,
                    project=DEMO_PROJECT,
                )
                auc, delta = result.overall.metrics["roc_auc"], result.overall.delta.get("roc_auc")
                shift = f", Δ {delta.value:+.4f} [{delta.low:+.4f}, {delta.high:+.4f}]" if delta and delta.low else ""
                self.console.print(
                    f"sy.evaluate(version {number}) on {len(holdout)} held-out rows vs {baseline}: "
                    f"auc {auc.value:.4f}{shift} (95% bootstrap CI); logged to run {str(result.run_id)[:8]}",
                    markup=False,
                )
            try:
                client.set_alias(DEMO_MODEL, GATED, weak_version)
            except PreconditionFailed as refused:
                failing = refused.details.get("failing_rules", [])
                self.console.print(
                    f"@{GATED} → version {weak_version}: refused (412), failing: {failing}", markup=False
                )
            else:
                raise RuntimeError("the gate let a weak model through")
            verdict = client.check_gate(DEMO_MODEL, good_version, GATED)
            table = Table("rule", "status", "evidence", title=f"gate verdict for version {good_version}")
            for outcome in verdict.outcomes:
                table.add_row(escape(outcome.rule), outcome.status, escape(outcome.message[:90]))
            self.console.print(table)
            client.set_alias(DEMO_MODEL, GATED, good_version)
            self.console.print(f"@{GATED} → version {good_version}: the gate passed")
        self.good_version = good_version

    def _canary(self, url: str) -> None:
        from shipyard.demo.canary import BrokenModel, Traffic, run_canaries, v2_rows

        with Client(settings=self.settings, project=DEMO_PROJECT) as client:
            broken = self._register_candidate(client, "broken", BrokenModel(), self.signature)
            self.console.print(
                f"version {broken}: a bad release that no gate saw (every prediction fails); "
                f"version {self.good_version}: @{GATED}, gated"
            )
            self.serving_version = self.good_version
            with Traffic(url, v2_rows(self.x_test)) as traffic:
                run_canaries(
                    self.console,
                    client,
                    url,
                    traffic,
                    DEMO_MODEL,
                    stable=self.version,
                    good=self.good_version,
                    broken=broken,
                )

    def _shift(self, url: str) -> None:
        from shipyard.demo.canary import send, v2_rows

        shifted = self.x_test * 1.3  # the population moved: every feature 30 % larger
        ids = [f"shift-{i}" for i in range(len(shifted))]
        statuses = send(url, v2_rows(shifted), ids)
        self.shift_ids = ids
        self.console.print(
            f"{len(ids)} requests with every feature 30 % larger (X-Request-ID shift-0 … shift-{len(ids) - 1}): "
            f"{dict(statuses)}; stopping the endpoint flushes the model servers' prediction logs"
        )

    def _monitor(self) -> None:
        from shipyard.demo.canary import ENDPOINT
        from shipyard.demo.webhook import Receiver

        labels = [{"request_id": i, "label": int(y)} for i, y in zip(self.shift_ids, self.y_test, strict=True)]
        with Client(settings=self.settings, project=DEMO_PROJECT) as client, Receiver() as hook:
            sent = client.monitoring.feedback(ENDPOINT, labels)
            self.console.print(
                f"labels for {len(labels)} predictions arrive later: {sent.accepted} joined, "
                f"{sent.duplicates} duplicates, {sent.unknown} unknown ids"
            )
            name = "tumor-drift"
            if name in {m.name for m in client.monitoring.iter_monitors()}:
                client.monitoring.delete_monitor(name)
            client.monitoring.create_monitor(
                name, ENDPOINT, window=f"last {len(labels)}", performance={"task": "classification"}
            )
            result = client.monitoring.run_monitor(name)
            drifted = ", ".join(result.drifted_columns[:4]) + (", …" if len(result.drifted_columns) > 4 else "")
            accuracy = (result.performance or {}).get("metrics", {}).get("accuracy")
            quality = f"accuracy on the labelled ones {accuracy:.3f}" if accuracy is not None else "no accuracy yet"
            self.console.print(
                f"monitor {name} over the last {result.n_rows} predictions vs the training data of version "
                f"{self.serving_version}: [bold]{result.status}[/], drift share {result.drift_share or 0:.2f} "
                f"({len(result.drifted_columns)} columns: {drifted}), {quality}"
            )
            client.put_alert_receiver({"name": "demo-hook", "url": hook.url})
            client.put_alert_rule(
                {
                    "name": "tumor-input-drift",
                    "source": {"kind": "monitor", "monitor": name, "field": "drift_share"},
                    "op": ">=",
                    "threshold": 0.3,
                    "severity": "page",
                    "receivers": ["demo-hook"],
                }
            )
            evaluation = client.evaluate_alerts()
            firing = [a for a in client.iter_alerts(status="firing") if a.rule == "tumor-input-drift"]
            deliveries = list(client.iter_alert_deliveries(receiver="demo-hook"))
            self.console.print(
                f"alert rule drift_share >= 0.3 → {len(firing)} firing; {len(hook.received)} webhook call(s) received, "
                f"{len(deliveries)} delivery attempt(s) recorded ({len(evaluation.notifications)} notification(s))"
            )
            if hook.received:
                self.console.print(f"webhook payload: {str(hook.received[-1])[:160]}…")
            report = self.settings.home / "reports" / f"{name}.html"
            report.parent.mkdir(parents=True, exist_ok=True)
            report.write_text(client.monitoring.report(name), encoding="utf-8")
            self.console.print(
                f"HTML report (self-contained, opens offline): {report} ({report.stat().st_size:,} bytes)"
            )

    @contextmanager
    def _authenticated_server(self) -> Iterator[Client]:
        """A real server on the demo's stores. A server authenticates every call: bootstrap
        an admin the way `shipyard admin create-user NAME --admin` does, and call with its token."""
        db = Database(self.settings.database_url, self.settings.database)  # migrated by the steps above
        try:
            _, token = create_user_with_token(
                db,
                Actor("shipyard demo"),
                DEMO_ADMIN,
                self.settings.auth,
                org_role="org_admin",
                token_name="demo",
                expires_in_days=1,
                exist_ok=True,
            )
        finally:
            db.dispose()
        self.admin_prefix = token.prefix
        quiet = self.settings.model_copy(
            update={"logging": self.settings.logging.model_copy(update={"level": "WARNING"})}
        )
        with (
            serve_in_thread(create_app(quiet)) as url,
            Client(url, settings=self.settings, token=token.token, project=DEMO_PROJECT) as remote,
        ):
            self.url = url
            yield remote

    def _server(self, remote: Client) -> None:
        self.console.print(f"server listening on {self.url}, called as {DEMO_ADMIN} with token {self.admin_prefix}…")
        ready = remote.ready()
        table = Table("check", "ok", "backend", "where")
        for name, check in ready["checks"].items():
            table.add_row(name, "yes" if check["ok"] else "NO", check["backend"], str(check["url"]))
        self.console.print(table)
        projects = [p.name for p in remote.iter_projects()]
        self.console.print(f"GET /api/v1/projects → {', '.join(projects)}")
        metrics = {f.name for f in text_string_to_metric_families(remote._http.get("/metrics").text)}
        self.console.print(f"GET /metrics → {len(metrics)} metric families, e.g. shipyard_http_requests")

    def _deny(self, remote: Client) -> None:
        import httpx

        anonymous = httpx.get(f"{self.url}/api/v1/projects", timeout=30)
        message = anonymous.json()["error"]["message"]
        self.console.print(f"GET /api/v1/projects without a token → {anonymous.status_code}: {message}")
        with self._user(remote, DEMO_VIEWER, "viewer", "read-only, made by `shipyard demo`") as viewer:
            self.console.print(f"user {DEMO_VIEWER} is a viewer of '{DEMO_PROJECT}', with a token of its own")
            seen = viewer.get_version_by_alias(DEMO_MODEL, "staging").version
            self.console.print(f"{DEMO_VIEWER} reads {DEMO_MODEL}@staging → version {seen}")
            try:
                viewer.set_alias(DEMO_MODEL, "production", seen)
            except PermissionDenied as denied:
                self.console.print(f"{DEMO_VIEWER} moves @production → 403: {denied.message}")
            else:
                raise RuntimeError("a viewer was allowed to move an alias")
        self.console.print("the refusal is itself recorded in the audit log as access.denied")

    def _user(self, remote: Client, name: str, role: str, description: str) -> Client:
        """A user of ``role`` in the demo project, and a client that calls as it."""
        with suppress(AlreadyExists):
            remote.create_principal("user", name, description=description)
        remote.set_member(name, role, project=DEMO_PROJECT)
        token = remote.create_token("demo", principal=name, expires_in_days=1)
        return Client(self.url, settings=self.settings, token=token.token, project=DEMO_PROJECT)

    def _four_eyes(self, remote: Client) -> None:
        remote.protect_alias("production")
        target = remote.get_version_by_alias(DEMO_MODEL, "staging").version
        try:
            remote.set_alias(DEMO_MODEL, "production", target)
        except Conflict as refused:
            self.console.print(f"{DEMO_ADMIN} moves @production directly → 409: {refused.message.split(':')[0]}")
        else:
            raise RuntimeError("a protected alias moved without an approval")
        for stale in remote.list_alias_requests(status="pending", model=DEMO_MODEL, alias="production").items:
            remote.cancel_alias_request(stale.id, comment="superseded by a new demo run")
        current = remote.get_registered_model(DEMO_MODEL).aliases.get("production")
        if current == target:
            self.console.print(f"@production already points at version {target}: nothing to request")
            return
        request = remote.request_alias_change(
            DEMO_MODEL, "production", target, comment=f"promote version {target}: best AUC of the sweep"
        )
        self.console.print(
            f"{DEMO_ADMIN} requests @production → version {target} (request #{request.id}, {request.status.value})"
        )
        try:
            remote.approve_alias_request(request.id, comment="looks good to me")
        except Conflict as refused:
            self.console.print(f"{DEMO_ADMIN} approves its own request → 409: {refused.message}")
        else:
            raise RuntimeError("a requester approved its own request")
        with self._user(remote, DEMO_APPROVER, "maintainer", "second pair of eyes") as approver:
            decided = approver.approve_alias_request(request.id, comment="metrics and lineage checked")
        self.console.print(
            f"{DEMO_APPROVER} (maintainer) approves: '{decided.decision_comment}' → "
            f"@production = version {remote.get_version_by_alias(DEMO_MODEL, 'production').version}"
        )

    def _audit(self) -> None:
        from shipyard.audit import export

        with Client(settings=self.settings, project=DEMO_PROJECT) as client:
            latest = client.list_audit_entries(newest_first=True, max_results=8).items
            table = Table("seq", "actor", "action", "object", "from", "hash", box=box.SIMPLE)
            table.columns[2].no_wrap = True
            for e in reversed(latest):
                table.add_row(str(e.seq), e.actor, e.action, e.object_id[:12], e.source or "local", e.hash[:8])
            self.console.print("the newest entries of the audit log, each chained to the one before:")
            self.console.print(table)
            issued = client.create_audit_checkpoint()
            self.console.print(f"signed checkpoint: {issued.tree_size} entries, head {issued.head_hash[:16]}…")
            report = client.verify_audit()
            verdict = "intact" if report.ok else f"BROKEN: {report.problem}"
            self.console.print(
                f"shipyard audit verify → {verdict}: {report.entries} entries, "
                f"{report.checkpoints} signed checkpoints confirmed"
            )
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "audit.jsonl"
                with path.open("w", encoding="utf-8") as out:
                    end = client.export_audit(out)
                with path.open(encoding="utf-8") as lines:
                    offline = export.verify_export(lines, path.name)
            self.console.print(
                f"shipyard audit export → {end.entries} entries in {path.name}; verified offline with no database: "
                f"{'intact' if offline.ok else 'BROKEN'}"
            )


def run_demo(settings: Settings, console: Console | None = None) -> None:
    """Walk the golden path in local mode on ``settings``' stores (a configured server
    URL is ignored: the demo starts its own server on those stores; an older database
    there is upgraded)."""
    local = settings.model_copy(
        update={
            "client": settings.client.model_copy(update={"url": None}),
            # The demo's home is its own: bring an older demo database up to date.
            "database": settings.database.model_copy(update={"auto_upgrade": True}),
        }
    )
    Demo(local, console or Console()).run()
