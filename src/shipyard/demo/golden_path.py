"""The golden path walk-through. Each capability Shipyard gains adds its step here."""

from __future__ import annotations

import csv
import hashlib
import io
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

import shipyard as sy
from shipyard import sdk
from shipyard.client import Client
from shipyard.demo.background_server import serve_in_thread
from shipyard.errors import AlreadyExists
from shipyard.server.app import create_app
from shipyard.settings import Settings

DEMO_PROJECT = "demo"
DEMO_EXPERIMENT = "breast-cancer"
DEMO_MODEL = "tumor-classifier"


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
        self.step("Serve the same stores over HTTP and check health", self._server)
        self.step(f"Serve models:/{DEMO_MODEL}@staging and send it real requests", self._serve_model)
        self.console.print(
            Panel.fit(
                "Done. Next: [bold]shipyard server[/] and open http://127.0.0.1:8765/api/v1/docs\n"
                "Try: shipyard runs search -p demo -f 'metrics.auc > 0.99' · shipyard models list -p demo\n"
                f"     shipyard models alias-history -p demo {DEMO_MODEL} · shipyard config show",
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

    def _server(self) -> None:
        app = create_app(self.settings, embedded=True)
        with serve_in_thread(app) as url, Client(url, settings=self.settings) as remote:
            self.console.print(f"server listening on {url}")
            ready = remote.ready()
            table = Table("check", "ok", "backend", "where")
            for name, check in ready["checks"].items():
                table.add_row(name, "yes" if check["ok"] else "NO", check["backend"], str(check["url"]))
            self.console.print(table)
            projects = [p.name for p in remote.iter_projects()]
            self.console.print(f"GET /api/v1/projects → {', '.join(projects)}")
            metrics = {f.name for f in text_string_to_metric_families(remote._http.get("/metrics").text)}
            self.console.print(f"GET /metrics → {len(metrics)} metric families, e.g. shipyard_http_requests")


def run_demo(settings: Settings, console: Console | None = None) -> None:
    """Walk the golden path in local mode on ``settings``' stores (a configured server
    URL is ignored: the demo starts its own server on those stores)."""
    local = settings.model_copy(update={"client": settings.client.model_copy(update={"url": None})})
    Demo(local, console or Console()).run()
