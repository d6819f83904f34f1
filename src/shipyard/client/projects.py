"""Projects through the SDK."""

from __future__ import annotations

from collections.abc import Iterator

from shipyard.client.base import BaseClient, _all_pages, _page
from shipyard.projects.schemas import ProjectList, ProjectOut
from shipyard.store.pagination import Page


class ProjectsAPI(BaseClient):
    # -- projects --------------------------------------------------------------------
    def create_project(self, name: str, description: str = "") -> ProjectOut:
        return self._json("POST", "/api/v1/projects", ProjectOut, json={"name": name, "description": description})

    def get_project(self, name: str | None = None) -> ProjectOut:
        return self._json("GET", f"/api/v1/projects/{self._project(name)}", ProjectOut)

    def update_project(self, name: str, *, description: str | None = None) -> ProjectOut:
        return self._json("PATCH", f"/api/v1/projects/{name}", ProjectOut, json={"description": description})

    def list_projects(self, *, max_results: int | None = None, page_token: str | None = None) -> Page[ProjectOut]:
        body = self._json("GET", "/api/v1/projects", ProjectList, params=_page(max_results, page_token))
        return Page(items=body.projects, next_page_token=body.next_page_token)

    def iter_projects(self) -> Iterator[ProjectOut]:
        return _all_pages(self.list_projects)
