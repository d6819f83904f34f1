"""Pinned requirements: the exact versions of the packages a saved model needs."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from importlib import metadata

from shipyard.errors import InvalidArgument

_OP = r"(?:===|==|~=|!=|<=|>=|<|>)"
_VERSION = r"[A-Za-z0-9.*+!_-]+"
_REQUIREMENT = re.compile(
    rf"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)"
    rf"(?P<extras>\[[A-Za-z0-9._,\s-]*\])?\s*"
    rf"(?P<spec>{_OP}\s*{_VERSION}(?:\s*,\s*{_OP}\s*{_VERSION})*)?\s*"
    rf"(?P<marker>;[^\n\r]*)?$"
)


def canonical_name(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def pinned(distributions: Iterable[str]) -> list[str]:
    """``name==version`` for each installed distribution; ones not installed are left out."""
    pins = []
    for dist in distributions:
        version = installed_version(dist)
        if version is not None:
            pins.append(f"{dist}=={version}")
    return pins


def resolve_requirements(defaults: Iterable[str], extra: Sequence[str] | None) -> list[str]:
    """The flavor's pinned packages, overridden and extended by the caller's requirements.

    A caller's bare name (``"pandas"``) is pinned to the installed version when there is
    one. Only ``name[extras] <specifiers> ; marker`` lines are accepted: no pip options,
    URLs or paths, since these lines end up in a requirements file someone will install."""
    by_name: dict[str, str] = {}
    for line in pinned(defaults):
        by_name[canonical_name(line.split("==", 1)[0])] = line
    for raw in extra or ():
        if not isinstance(raw, str):
            raise InvalidArgument("requirements must be strings", {"field": "requirements"})
        line = raw.strip()
        match = _REQUIREMENT.match(line)
        if match is None:
            raise InvalidArgument(
                f"requirement '{raw[:200]}' is not 'name[extras] <specifier>'; options, URLs and paths are refused",
                {"field": "requirements", "value": raw[:200]},
            )
        if not match["spec"] and (version := installed_version(match["name"])) is not None:
            line = f"{match['name']}{match['extras'] or ''}=={version}{match['marker'] or ''}"
        by_name[canonical_name(match["name"])] = line
    return [by_name[name] for name in sorted(by_name)]
