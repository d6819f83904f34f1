"""Projects: the tenant every Shipyard object belongs to. ``default`` always exists."""

from shipyard.projects.schemas import ProjectCreate, ProjectList, ProjectOut, ProjectUpdate

__all__ = [
    "ProjectCreate",
    "ProjectList",
    "ProjectOut",
    "ProjectUpdate",
]
