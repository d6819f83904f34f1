"""Experiments, runs and logging through the SDK."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from shipyard.client.base import _all_pages, _page
from shipyard.client.blobs import BlobsAPI
from shipyard.errors import NotFound
from shipyard.events.schemas import EventList, EventOut
from shipyard.store.pagination import Page
from shipyard.tracking.schemas import (
    ArtifactList,
    ArtifactOut,
    DatasetIn,
    ExperimentList,
    ExperimentOut,
    LogBatchResult,
    MetricHistory,
    RunComparison,
    RunList,
    RunOut,
    RunSource,
)

# (key, value, step, timestamp_ms)
MetricTuple = tuple[str, float, int, int | None]


def metric_json(value: float) -> float | str:
    """Strict JSON has no NaN/inf: send them as the strings the API accepts."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


class TrackingAPI(BlobsAPI):
    def _runs(self, project: str | None) -> str:
        return f"/api/v1/projects/{self._project(project)}/runs"

    def _experiments(self, project: str | None) -> str:
        return f"/api/v1/projects/{self._project(project)}/experiments"

    # -- experiments -----------------------------------------------------------------
    def create_experiment(
        self, name: str, *, description: str = "", tags: Mapping[str, str] | None = None, project: str | None = None
    ) -> ExperimentOut:
        body = {"name": name, "description": description, "tags": dict(tags or {})}
        return self._json("POST", self._experiments(project), ExperimentOut, json=body)

    def get_experiment(self, experiment_id: int, *, project: str | None = None) -> ExperimentOut:
        return self._json("GET", f"{self._experiments(project)}/{experiment_id}", ExperimentOut)

    def get_experiment_by_name(self, name: str, *, project: str | None = None) -> ExperimentOut:
        return self._json("GET", f"{self._experiments(project)}/by-name/{name}", ExperimentOut)

    def get_or_create_experiment(self, name: str, *, project: str | None = None) -> ExperimentOut:
        try:
            return self.get_experiment_by_name(name, project=project)
        except NotFound:
            return self.create_experiment(name, project=project)

    def list_experiments(
        self,
        *,
        view: str = "active",
        name_like: str | None = None,
        project: str | None = None,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> Page[ExperimentOut]:
        params = _page(max_results, page_token) | {"view": view}
        if name_like:
            params["name_like"] = name_like
        body = self._json("GET", self._experiments(project), ExperimentList, params=params)
        return Page(items=body.experiments, next_page_token=body.next_page_token)

    def iter_experiments(self, *, view: str = "active", project: str | None = None) -> Iterator[ExperimentOut]:
        return _all_pages(lambda page_token: self.list_experiments(view=view, project=project, page_token=page_token))

    def update_experiment(
        self,
        experiment_id: int,
        *,
        name: str | None = None,
        description: str | None = None,
        project: str | None = None,
    ) -> ExperimentOut:
        body = {k: v for k, v in {"name": name, "description": description}.items() if v is not None}
        return self._json("PATCH", f"{self._experiments(project)}/{experiment_id}", ExperimentOut, json=body)

    def archive_experiment(self, experiment_id: int, *, project: str | None = None) -> ExperimentOut:
        return self._json("POST", f"{self._experiments(project)}/{experiment_id}/archive", ExperimentOut)

    def restore_experiment(self, experiment_id: int, *, project: str | None = None) -> ExperimentOut:
        return self._json("POST", f"{self._experiments(project)}/{experiment_id}/restore", ExperimentOut)

    def set_experiment_tag(self, experiment_id: int, key: str, value: str, *, project: str | None = None) -> None:
        self._request("PUT", f"{self._experiments(project)}/{experiment_id}/tags/{key}", json={"value": value})

    def delete_experiment_tag(self, experiment_id: int, key: str, *, project: str | None = None) -> None:
        self._request("DELETE", f"{self._experiments(project)}/{experiment_id}/tags/{key}")

    # -- runs ------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: int | None = None,
        *,
        name: str | None = None,
        user_id: str = "",
        tags: Mapping[str, str] | None = None,
        parent_run_id: str | None = None,
        source: RunSource | None = None,
        start_time: datetime | None = None,
        project: str | None = None,
    ) -> RunOut:
        body: dict[str, Any] = {
            "experiment_id": experiment_id,
            "name": name,
            "user_id": user_id,
            "tags": dict(tags or {}),
        }
        if parent_run_id:
            body["parent_run_id"] = parent_run_id
        if source is not None:
            body["source"] = source.model_dump(exclude_none=True)
        if start_time is not None:
            body["start_time"] = start_time.isoformat()
        return self._json("POST", self._runs(project), RunOut, json=body)

    def get_run(self, run_id: str, *, project: str | None = None) -> RunOut:
        return self._json("GET", f"{self._runs(project)}/{run_id}", RunOut)

    def update_run(
        self,
        run_id: str,
        *,
        status: str | None = None,
        end_time: datetime | None = None,
        name: str | None = None,
        project: str | None = None,
    ) -> RunOut:
        body: dict[str, Any] = {}
        if status is not None:
            body["status"] = status
        if end_time is not None:
            body["end_time"] = end_time.isoformat()
        if name is not None:
            body["name"] = name
        return self._json("PATCH", f"{self._runs(project)}/{run_id}", RunOut, json=body)

    def delete_run(self, run_id: str, *, project: str | None = None) -> RunOut:
        return self._json("POST", f"{self._runs(project)}/{run_id}/delete", RunOut)

    def restore_run(self, run_id: str, *, project: str | None = None) -> RunOut:
        return self._json("POST", f"{self._runs(project)}/{run_id}/restore", RunOut)

    # -- logging ---------------------------------------------------------------------
    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Iterable[MetricTuple] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        project: str | None = None,
    ) -> LogBatchResult:
        """Log many points at once (the server accepts up to 50,000 per request)."""
        body = {
            "metrics": [
                {"key": k, "value": metric_json(float(v)), "step": s, **({"timestamp": t} if t is not None else {})}
                for k, v, s, t in metrics
            ],
            "params": [{"key": k, "value": str(v)} for k, v in (params or {}).items()],
            "tags": [{"key": k, "value": str(v)} for k, v in (tags or {}).items()],
        }
        return self._json(
            "POST",
            f"{self._runs(project)}/{run_id}/log-batch",
            LogBatchResult,
            content=json.dumps(body, separators=(",", ":")).encode(),
            headers={"content-type": "application/json"},
        )

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        *,
        step: int = 0,
        timestamp: int | None = None,
        project: str | None = None,
    ) -> None:
        self.log_batch(run_id, metrics=[(key, value, step, timestamp)], project=project)

    def log_param(self, run_id: str, key: str, value: Any, *, project: str | None = None) -> None:
        self.log_batch(run_id, params={key: value}, project=project)

    def set_tag(self, run_id: str, key: str, value: Any, *, project: str | None = None) -> None:
        self.log_batch(run_id, tags={key: value}, project=project)

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetIn], *, project: str | None = None) -> None:
        body = {"datasets": [d.model_dump(by_alias=True, exclude_none=True) for d in datasets]}
        self._request("POST", f"{self._runs(project)}/{run_id}/inputs", json=body)

    def get_metric_history(
        self,
        run_id: str,
        key: str,
        *,
        max_points: int = 1000,
        start_step: int | None = None,
        end_step: int | None = None,
        project: str | None = None,
    ) -> MetricHistory:
        params: dict[str, Any] = {"max_points": max_points}
        if start_step is not None:
            params["start_step"] = start_step
        if end_step is not None:
            params["end_step"] = end_step
        return self._json("GET", f"{self._runs(project)}/{run_id}/metrics/{key}/history", MetricHistory, params=params)

    def compare_runs(
        self, run_ids: Sequence[str], *, metric_keys: Sequence[str] | None = None, project: str | None = None
    ) -> RunComparison:
        body: dict[str, Any] = {"run_ids": list(run_ids)}
        if metric_keys is not None:
            body["metric_keys"] = list(metric_keys)
        return self._json("POST", f"{self._runs(project)}/compare", RunComparison, json=body)

    def search_runs(
        self,
        *,
        experiment_ids: Sequence[int] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        view: str = "active",
        max_results: int | None = None,
        page_token: str | None = None,
        project: str | None = None,
    ) -> Page[RunOut]:
        body: dict[str, Any] = {"view": view}
        if experiment_ids is not None:
            body["experiment_ids"] = list(experiment_ids)
        if filter:
            body["filter"] = filter
        if order_by:
            body["order_by"] = list(order_by)
        if max_results is not None:
            body["max_results"] = max_results
        if page_token:
            body["page_token"] = page_token
        result = self._json("POST", f"{self._runs(project)}/search", RunList, json=body)
        return Page(items=result.runs, next_page_token=result.next_page_token)

    # -- run artifacts ---------------------------------------------------------------
    def log_artifact(
        self, run_id: str, local_path: Path | str, *, artifact_path: str | None = None, project: str | None = None
    ) -> ArtifactOut:
        """Upload one file and record it at ``<artifact_path>/<file name>`` of the run."""
        path = Path(local_path)
        if not path.is_file():
            raise NotFound(f"{path} is not a file", {"resource": "file", "path": str(path)})
        rel = f"{artifact_path.strip('/')}/{path.name}" if artifact_path else path.name
        return self._record_files(run_id, [(rel, path)], project)[0]

    def log_artifacts(
        self, run_id: str, local_dir: Path | str, *, artifact_path: str | None = None, project: str | None = None
    ) -> list[ArtifactOut]:
        """Upload every file under ``local_dir`` keeping its relative layout."""
        root = Path(local_dir)
        if not root.is_dir():
            raise NotFound(f"{root} is not a directory", {"resource": "directory", "path": str(root)})
        prefix = artifact_path.strip("/") + "/" if artifact_path else ""
        files = sorted(p for p in root.rglob("*") if p.is_file())
        return self._record_files(run_id, [(prefix + p.relative_to(root).as_posix(), p) for p in files], project)

    def _record_files(self, run_id: str, files: list[tuple[str, Path]], project: str | None) -> list[ArtifactOut]:
        entries = []
        for rel, path in files:
            info = self.upload_blob(path, project=project)
            entries.append({"path": rel, "digest": info.digest})
        response = self._request("POST", f"{self._runs(project)}/{run_id}/artifacts", json={"files": entries})
        return [ArtifactOut.model_validate(a) for a in response.json()]

    def list_artifacts(
        self,
        run_id: str,
        *,
        prefix: str | None = None,
        max_results: int | None = None,
        page_token: str | None = None,
        project: str | None = None,
    ) -> Page[ArtifactOut]:
        params = _page(max_results, page_token)
        if prefix:
            params["prefix"] = prefix
        body = self._json("GET", f"{self._runs(project)}/{run_id}/artifacts", ArtifactList, params=params)
        return Page(items=body.files, next_page_token=body.next_page_token)

    def iter_artifacts(
        self, run_id: str, *, prefix: str | None = None, project: str | None = None
    ) -> Iterator[ArtifactOut]:
        return _all_pages(
            lambda page_token: self.list_artifacts(run_id, prefix=prefix, page_token=page_token, project=project)
        )

    def download_artifacts(self, run_id: str, path: str, dest: Path | str, *, project: str | None = None) -> Path:
        """Download the file or directory at ``path`` of a run into ``dest``; every file's
        sha256 is verified. Returns the local path of what ``path`` named."""
        dest = Path(dest)
        clean = path.strip("/")
        files = list(self.iter_artifacts(run_id, prefix=clean, project=project))
        if files:
            for f in files:
                target = dest / clean / f.path[len(clean) + 1 :] if clean else dest / f.path
                target.parent.mkdir(parents=True, exist_ok=True)
                self.download_blob(f.digest, target, project=project)
            return dest / clean if clean else dest
        parent = clean.rsplit("/", 1)[0] if "/" in clean else None
        exact = [f for f in self.iter_artifacts(run_id, prefix=parent, project=project) if f.path == clean]
        if not exact:
            raise NotFound(f"run '{run_id}' has no artifact at '{path}'", {"resource": "artifact", "path": path})
        target = dest / os.path.basename(clean)
        target.parent.mkdir(parents=True, exist_ok=True)
        self.download_blob(exact[0].digest, target, project=project)
        return target

    # -- events ----------------------------------------------------------------------
    def list_events(
        self,
        *,
        object_type: str | None = None,
        object_id: str | None = None,
        project: str | None = None,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> Page[EventOut]:
        params = _page(max_results, page_token)
        if object_type:
            params["object_type"] = object_type
        if object_id:
            params["object_id"] = object_id
        body = self._json("GET", f"/api/v1/projects/{self._project(project)}/events", EventList, params=params)
        return Page(items=body.events, next_page_token=body.next_page_token)
