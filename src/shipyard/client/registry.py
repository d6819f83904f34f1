"""The model registry through the SDK, and fetching a model's files by URI."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from shipyard.artifacts.digests import file_digest
from shipyard.client.base import _all_pages, _page
from shipyard.client.tracking import TrackingAPI
from shipyard.errors import AlreadyExists, NotFound
from shipyard.registry import uris
from shipyard.registry.schemas import (
    AliasChangeOut,
    AliasHistory,
    AliasRequestList,
    AliasRequestOut,
    ModelVersionList,
    ModelVersionOut,
    ProtectedAliasList,
    ProtectedAliasOut,
    RegisteredModelList,
    RegisteredModelOut,
)
from shipyard.store.pagination import Page


class RegistryAPI(TrackingAPI):
    def _models(self, project: str | None) -> str:
        return f"/api/v1/projects/{self._project(project)}/models"

    def create_registered_model(
        self, name: str, *, description: str = "", tags: Mapping[str, str] | None = None, project: str | None = None
    ) -> RegisteredModelOut:
        body = {"name": name, "description": description, "tags": dict(tags or {})}
        return self._json("POST", self._models(project), RegisteredModelOut, json=body)

    def get_registered_model(self, name: str, *, project: str | None = None) -> RegisteredModelOut:
        return self._json("GET", f"{self._models(project)}/{name}", RegisteredModelOut)

    def list_registered_models(
        self,
        *,
        view: str = "active",
        name_like: str | None = None,
        max_results: int | None = None,
        page_token: str | None = None,
        project: str | None = None,
    ) -> Page[RegisteredModelOut]:
        params = _page(max_results, page_token) | {"view": view}
        if name_like:
            params["name_like"] = name_like
        body = self._json("GET", self._models(project), RegisteredModelList, params=params)
        return Page(items=body.models, next_page_token=body.next_page_token)

    def iter_registered_models(
        self, *, view: str = "active", project: str | None = None
    ) -> Iterator[RegisteredModelOut]:
        return _all_pages(
            lambda page_token: self.list_registered_models(view=view, page_token=page_token, project=project)
        )

    def update_registered_model(self, name: str, *, description: str, project: str | None = None) -> RegisteredModelOut:
        return self._json(
            "PATCH", f"{self._models(project)}/{name}", RegisteredModelOut, json={"description": description}
        )

    def archive_registered_model(self, name: str, *, project: str | None = None) -> RegisteredModelOut:
        return self._json("POST", f"{self._models(project)}/{name}/archive", RegisteredModelOut)

    def delete_registered_model(self, name: str, *, project: str | None = None) -> RegisteredModelOut:
        return self._json("POST", f"{self._models(project)}/{name}/delete", RegisteredModelOut)

    def restore_registered_model(self, name: str, *, project: str | None = None) -> RegisteredModelOut:
        return self._json("POST", f"{self._models(project)}/{name}/restore", RegisteredModelOut)

    def set_registered_model_tag(self, name: str, key: str, value: str, *, project: str | None = None) -> None:
        self._request("PUT", f"{self._models(project)}/{name}/tags/{key}", json={"value": value})

    # -- versions --------------------------------------------------------------------
    def register_model(
        self,
        source: str,
        name: str,
        *,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        project: str | None = None,
    ) -> ModelVersionOut:
        """Register the model logged at ``source`` (``runs:/<run id>/<path>``) as the next
        version of ``name``, creating the registered model if needed."""
        with contextlib.suppress(AlreadyExists):
            self.create_registered_model(name, project=project)
        body: dict[str, Any] = {"source": source, "description": description, "tags": dict(tags or {})}
        return self._json("POST", f"{self._models(project)}/{name}/versions", ModelVersionOut, json=body)

    def get_model_version(self, name: str, version: int, *, project: str | None = None) -> ModelVersionOut:
        return self._json("GET", f"{self._models(project)}/{name}/versions/{version}", ModelVersionOut)

    def list_model_versions(
        self, name: str, *, max_results: int | None = None, page_token: str | None = None, project: str | None = None
    ) -> Page[ModelVersionOut]:
        body = self._json(
            "GET", f"{self._models(project)}/{name}/versions", ModelVersionList, params=_page(max_results, page_token)
        )
        return Page(items=body.versions, next_page_token=body.next_page_token)

    def update_model_version(
        self, name: str, version: int, *, description: str, project: str | None = None
    ) -> ModelVersionOut:
        return self._json(
            "PATCH",
            f"{self._models(project)}/{name}/versions/{version}",
            ModelVersionOut,
            json={"description": description},
        )

    def archive_model_version(self, name: str, version: int, *, project: str | None = None) -> ModelVersionOut:
        return self._json("POST", f"{self._models(project)}/{name}/versions/{version}/archive", ModelVersionOut)

    def delete_model_version(self, name: str, version: int, *, project: str | None = None) -> ModelVersionOut:
        return self._json("POST", f"{self._models(project)}/{name}/versions/{version}/delete", ModelVersionOut)

    def restore_model_version(self, name: str, version: int, *, project: str | None = None) -> ModelVersionOut:
        return self._json("POST", f"{self._models(project)}/{name}/versions/{version}/restore", ModelVersionOut)

    # -- aliases ---------------------------------------------------------------------
    def set_alias(self, name: str, alias: str, version: int, *, project: str | None = None) -> ModelVersionOut:
        return self._json(
            "PUT", f"{self._models(project)}/{name}/aliases/{alias}", ModelVersionOut, json={"version": version}
        )

    def delete_alias(self, name: str, alias: str, *, project: str | None = None) -> None:
        self._request("DELETE", f"{self._models(project)}/{name}/aliases/{alias}")

    def get_version_by_alias(self, name: str, alias: str, *, project: str | None = None) -> ModelVersionOut:
        return self._json("GET", f"{self._models(project)}/{name}/aliases/{alias}", ModelVersionOut)

    def alias_history(self, name: str, *, alias: str | None = None, project: str | None = None) -> list[AliasChangeOut]:
        changes: list[AliasChangeOut] = []
        token: str | None = None
        while True:
            params = _page(None, token) | ({"alias": alias} if alias else {})
            page = self._json("GET", f"{self._models(project)}/{name}/alias-history", AliasHistory, params=params)
            changes.extend(page.changes)
            token = page.next_page_token
            if not token:
                return changes

    # -- protected aliases and four-eyes requests ---------------------------------------
    def _project_path(self, project: str | None) -> str:
        return f"/api/v1/projects/{self._project(project)}"

    def protect_alias(self, alias: str, *, project: str | None = None) -> ProtectedAliasOut:
        """Protect ``@alias`` in every model of the project: from then on it moves only
        through an approved request (idempotent)."""
        return self._json("PUT", f"{self._project_path(project)}/protected-aliases/{alias}", ProtectedAliasOut)

    def unprotect_alias(self, alias: str, *, project: str | None = None) -> None:
        self._request("DELETE", f"{self._project_path(project)}/protected-aliases/{alias}")

    def list_protected_aliases(self, *, project: str | None = None) -> list[ProtectedAliasOut]:
        def page(page_token: str | None) -> Page[ProtectedAliasOut]:
            body = self._json(
                "GET",
                f"{self._project_path(project)}/protected-aliases",
                ProtectedAliasList,
                params=_page(None, page_token),
            )
            return Page(items=body.aliases, next_page_token=body.next_page_token)

        return list(_all_pages(page))

    def request_alias_change(
        self, name: str, alias: str, version: int | None, *, comment: str, project: str | None = None
    ) -> AliasRequestOut:
        """Ask for ``@alias`` of ``name`` to point at ``version`` (``None``: to be removed);
        another maintainer approves it."""
        body = {"model": name, "alias": alias, "version": version, "comment": comment}
        return self._json("POST", f"{self._project_path(project)}/alias-requests", AliasRequestOut, json=body)

    def list_alias_requests(
        self,
        *,
        status: str | None = None,
        model: str | None = None,
        alias: str | None = None,
        max_results: int | None = None,
        page_token: str | None = None,
        project: str | None = None,
    ) -> Page[AliasRequestOut]:
        """The project's alias change requests, newest first."""
        filters = {"status": status, "model": model, "alias": alias}
        params = _page(max_results, page_token) | {k: v for k, v in filters.items() if v}
        body = self._json("GET", f"{self._project_path(project)}/alias-requests", AliasRequestList, params=params)
        return Page(items=body.requests, next_page_token=body.next_page_token)

    def iter_alias_requests(
        self,
        *,
        status: str | None = None,
        model: str | None = None,
        alias: str | None = None,
        project: str | None = None,
    ) -> Iterator[AliasRequestOut]:
        return _all_pages(
            lambda page_token: self.list_alias_requests(
                status=status, model=model, alias=alias, page_token=page_token, project=project
            )
        )

    def get_alias_request(self, request_id: int, *, project: str | None = None) -> AliasRequestOut:
        return self._json("GET", f"{self._project_path(project)}/alias-requests/{request_id}", AliasRequestOut)

    def approve_alias_request(self, request_id: int, *, comment: str, project: str | None = None) -> AliasRequestOut:
        """Approve someone else's request and apply it."""
        return self._decide_alias_request(request_id, "approve", comment, project)

    def reject_alias_request(self, request_id: int, *, comment: str, project: str | None = None) -> AliasRequestOut:
        return self._decide_alias_request(request_id, "reject", comment, project)

    def cancel_alias_request(
        self, request_id: int, *, comment: str = "", project: str | None = None
    ) -> AliasRequestOut:
        """Withdraw your own pending request."""
        return self._decide_alias_request(request_id, "cancel", comment, project)

    def _decide_alias_request(self, request_id: int, verb: str, comment: str, project: str | None) -> AliasRequestOut:
        return self._json(
            "POST",
            f"{self._project_path(project)}/alias-requests/{request_id}/{verb}",
            AliasRequestOut,
            json={"comment": comment},
        )

    def resolve_model(self, uri: str, *, project: str | None = None) -> ModelVersionOut:
        return self._json("GET", f"{self._models(project)}/resolve", ModelVersionOut, params={"uri": uri})

    # -- files -----------------------------------------------------------------------
    def download_model(self, uri: str, dest: Path | str | None = None, *, project: str | None = None) -> Path:
        """Fetch the files a model URI names, each verified by sha256.

        With ``dest`` (new or empty directory) the files are written there. Without it
        they land in a content-addressed cache under
        ``$SHIPYARD_HOME/cache/models/<manifest digest>``, reused on later loads."""
        ref = uris.parse(uri)
        if isinstance(ref, uris.RunRef):
            files = [
                (a.path[len(ref.path) + 1 :], a.digest)
                for a in self.iter_artifacts(ref.run_id, prefix=ref.path, project=project)
            ]
            if not files:
                raise NotFound(f"no files under {uri}", {"resource": "artifact", "uri": uri})
            cache_key = next((d for p, d in files if p == "shipyard-model.json"), None)
        else:
            version = self.resolve_model(uri, project=project)
            files = [(f.path, f.digest) for f in version.files]
            cache_key = version.manifest_digest
        if dest is not None:
            target = Path(dest)
            if target.exists() and (not target.is_dir() or any(target.iterdir())):
                raise AlreadyExists(
                    f"{target} exists and is not an empty directory; choose a new or empty one",
                    {"resource": "directory", "path": str(target)},
                )
            for rel, digest in files:
                out = target / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                self.download_blob(digest, out, project=project)
            return target
        if not cache_key:
            raise NotFound(f"no shipyard-model.json under {uri}", {"resource": "artifact", "uri": uri})
        cached = self.settings.home / "cache" / "models" / cache_key
        manifest = cached / "shipyard-model.json"
        # Keyed by the manifest's digest; a manifest edited on disk is not reused (the
        # files it lists are verified again when the model loads).
        if manifest.is_file() and file_digest(manifest)[0] == cache_key:
            return cached
        staging = Path(tempfile.mkdtemp(prefix=".download-", dir=_parent(cached)))
        try:
            for rel, digest in files:
                out = staging / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                self.download_blob(digest, out, project=project)
            if cached.exists():
                shutil.rmtree(cached)
            staging.replace(cached)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return cached

    def evict_cached_model(self, path: Path) -> None:
        """Drop a cache entry (e.g. after its files failed verification)."""
        root = (self.settings.home / "cache" / "models").resolve()
        if path.resolve().parent == root:
            shutil.rmtree(path, ignore_errors=True)


def _parent(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.parent
