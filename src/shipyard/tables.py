"""Imports every domain's tables so ``Base.metadata`` is complete (for Alembic and tests)."""

from shipyard.artifacts.tables import BlobRecord
from shipyard.projects.tables import Project

__all__ = ["BlobRecord", "Project"]
