"""Inference endpoints through the SDK: apply a spec, read, history, promote, roll back."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from shipyard.client.base import BaseClient, _all_pages, _page
from shipyard.deploy.analysis import AnalysisResult
from shipyard.deploy.schemas import ApplyResult, EndpointList, EndpointOut, ObserveIn, RolloutHistory, RolloutOut
from shipyard.deploy.spec import EndpointSpec, load_spec_file, parse_spec
from shipyard.errors import InvalidArgument
from shipyard.store.pagination import Page


class EndpointsAPI(BaseClient):
    def _endpoints(self, project: str | None) -> str:
        return f"/api/v1/projects/{self._project(project)}/endpoints"

    def apply_endpoint(
        self,
        spec: EndpointSpec | Mapping[str, Any] | Path,
        *,
        dry_run: bool = False,
        project: str | None = None,
    ) -> ApplyResult:
        """Make ``spec`` (a spec, its fields, or a YAML/JSON file) the endpoint's desired
        state. Idempotent; ``dry_run`` only reports the changes. The project is
        ``project=``, else the spec's ``project``, else the client's."""
        if isinstance(spec, Path):
            spec = load_spec_file(spec)
        elif not isinstance(spec, EndpointSpec):
            spec = parse_spec(spec)
        if project and spec.project and project != spec.project:
            raise InvalidArgument(
                f"the spec names project '{spec.project}' but project '{project}' was asked for", {"field": "project"}
            )
        target = project or spec.project
        body = spec.model_dump(mode="json", exclude={"project"}, exclude_none=True)
        return self._json(
            "PUT",
            f"{self._endpoints(target)}/{spec.name}",
            ApplyResult,
            json=body,
            params={"dry_run": "true"} if dry_run else None,
        )

    def get_endpoint(self, name: str, *, project: str | None = None) -> EndpointOut:
        return self._json("GET", f"{self._endpoints(project)}/{name}", EndpointOut)

    def list_endpoints(
        self, *, max_results: int | None = None, page_token: str | None = None, project: str | None = None
    ) -> Page[EndpointOut]:
        body = self._json("GET", self._endpoints(project), EndpointList, params=_page(max_results, page_token))
        return Page(items=body.endpoints, next_page_token=body.next_page_token)

    def iter_endpoints(self, *, project: str | None = None) -> Iterator[EndpointOut]:
        return _all_pages(lambda page_token: self.list_endpoints(page_token=page_token, project=project))

    def endpoint_history(
        self, name: str, *, max_results: int | None = None, page_token: str | None = None, project: str | None = None
    ) -> Page[RolloutOut]:
        """Revisions and their rollouts (each with its transitions), newest first."""
        body = self._json(
            "GET", f"{self._endpoints(project)}/{name}/history", RolloutHistory, params=_page(max_results, page_token)
        )
        return Page(items=body.rollouts, next_page_token=body.next_page_token)

    def rollback_endpoint(self, name: str, *, reason: str = "", project: str | None = None) -> EndpointOut:
        """Abort the running rollout (all traffic back to the stable routes), or with none
        running, return to the routes that were stable before."""
        return self._json("POST", f"{self._endpoints(project)}/{name}/rollback", EndpointOut, json={"reason": reason})

    def promote_endpoint(self, name: str, *, full: bool = False, project: str | None = None) -> EndpointOut:
        """Resume the running rollout past its current pause or analysis (``full``: finish it)."""
        return self._json("POST", f"{self._endpoints(project)}/{name}/promote", EndpointOut, json={"full": full})

    def observe_endpoint(
        self,
        name: str,
        *,
        revision: int,
        ready: bool,
        analysis: AnalysisResult | None = None,
        project: str | None = None,
    ) -> EndpointOut:
        """Report what a controller saw of ``revision`` (see :func:`shipyard.deploy.service.observe`)."""
        body = ObserveIn(revision=revision, ready=ready, analysis=analysis).model_dump(mode="json")
        return self._json("POST", f"{self._endpoints(project)}/{name}/observe", EndpointOut, json=body)


__all__ = ["EndpointsAPI"]
