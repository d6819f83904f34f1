"""The HTTP server: thin FastAPI routers over the domain services."""

from shipyard.server.app import create_app

__all__ = ["create_app"]
