"""The OpenAPI document and its interactive view: public, and declared so.

FastAPI's built-in documentation routes are switched off (they could not declare an
access rule); these serve the same document, annotated with what each operation requires:
``security`` (bearer, or none for public operations) and ``x-shipyard-permission``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from shipyard.server.authz import PUBLIC, public, requirements_of, routes_of
from shipyard.server.headers import DOCS_CSP

OPENAPI_URL = "/api/v1/openapi.json"
router = APIRouter(tags=["server"], include_in_schema=False)


def annotated_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document with each operation's access requirement."""
    schema = app.openapi()
    if schema.get("x-shipyard-annotated"):
        return schema
    schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "A Shipyard API token (sy_…) or, when OIDC is configured, a JWT from the identity provider.",
    }
    for route in routes_of(app):
        declared = requirements_of(route)
        operations = schema["paths"].get(getattr(route, "path", ""), {})
        for method in getattr(route, "methods", None) or ():
            operation = operations.get(method.lower())
            if operation is None or not declared:
                continue
            rule = declared[0].rule
            operation["security"] = [] if rule == PUBLIC else [{"bearer": []}]
            operation["x-shipyard-permission"] = rule
    schema["x-shipyard-annotated"] = True
    return schema


@router.get(OPENAPI_URL, dependencies=[Depends(public)])
def openapi_document(request: Request) -> JSONResponse:
    return JSONResponse(annotated_openapi(request.app))


@router.get("/api/v1/docs", dependencies=[Depends(public)], response_class=HTMLResponse)
def api_docs() -> HTMLResponse:
    page = get_swagger_ui_html(openapi_url=OPENAPI_URL, title="Shipyard API")
    page.headers["Content-Security-Policy"] = DOCS_CSP
    return page
