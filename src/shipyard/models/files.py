"""The files of a model directory: listing, hashing, and checking them against a manifest."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from shipyard.artifacts.digests import file_digest
from shipyard.errors import DigestMismatch, ValidationFailed
from shipyard.models.manifest import FileEntry, ModelManifest


def list_files(root: Path, exclude: Iterable[str] = ()) -> list[str]:
    """Every regular file under ``root`` as a sorted relative POSIX path.

    Symlinks are refused: a model directory must carry its bytes, not point elsewhere."""
    skipped = set(exclude)
    found: list[str] = []
    for current, dirs, names in os.walk(root):
        here = Path(current)
        for name in [*dirs, *names]:
            if (here / name).is_symlink():
                rel = (here / name).relative_to(root).as_posix()
                raise ValidationFailed(
                    f"model directories may not contain symlinks: '{rel}'", {"path": rel, "problem": "symlink"}
                )
        for name in names:
            rel = (here / name).relative_to(root).as_posix()
            if rel not in skipped:
                found.append(rel)
    return sorted(found)


def digest_files(root: Path, exclude: Iterable[str] = ()) -> list[FileEntry]:
    entries = []
    for rel in list_files(root, exclude):
        sha256, size = file_digest(root / rel)
        entries.append(FileEntry(path=rel, sha256=sha256, size=size))
    return entries


def verify_files(root: Path, manifest: ModelManifest, exclude: Iterable[str] = ()) -> None:
    """Raise unless ``root`` holds exactly the manifest's files with their recorded bytes.

    A missing or unlisted file is :class:`ValidationFailed`; a file whose bytes changed is
    :class:`DigestMismatch`. Both name the file in the message and in ``details["path"]``."""
    present = set(list_files(root, exclude))
    listed = {entry.path: entry for entry in manifest.files}
    if missing := sorted(listed.keys() - present):
        raise ValidationFailed(
            f"model file '{missing[0]}' is listed in the manifest but missing from the directory",
            {"path": missing[0], "problem": "missing", "paths": missing},
        )
    if unlisted := sorted(present - listed.keys()):
        raise ValidationFailed(
            f"file '{unlisted[0]}' is in the model directory but not in its manifest",
            {"path": unlisted[0], "problem": "unlisted", "paths": unlisted},
        )
    for rel, entry in sorted(listed.items()):
        sha256, size = file_digest(root / rel)
        if sha256 != entry.sha256 or size != entry.size:
            error = DigestMismatch(entry.sha256, sha256, where=f"model file '{rel}'")
            error.details.update({"path": rel, "expected_size": entry.size, "actual_size": size})
            raise error
