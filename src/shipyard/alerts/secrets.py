"""Receiver secrets: webhook URLs (a Slack URL *is* its token), auth headers and signing
secrets. They must be retrievable to send a notification, so they are stored encrypted
(Fernet: AES-128-CBC + HMAC-SHA256) with a key kept outside the database, at
``alerts.secrets_key_path`` (default ``$SHIPYARD_HOME/keys/alerts-secrets.key``, created
0600 on first use). Every replica of a server needs the same key file; a database copied
without it holds no usable secret.

What is shown, logged or recorded is :func:`redact_url` (scheme, host and a digest) and
:func:`scrub`-bed error text: never a path, a query, a header value or a secret.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken

from shipyard.errors import InvalidArgument, Unavailable

DEFAULT_KEY_FILE = Path("keys") / "alerts-secrets.key"
MASK = "****"


def key_path(home: Path, configured: Path | None) -> Path:
    return configured.expanduser() if configured is not None else home / DEFAULT_KEY_FILE


class SecretBox:
    """Encrypts and decrypts receiver secrets with one key."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def from_file(cls, path: Path, *, create: bool = True) -> SecretBox:
        """The key at ``path``; with ``create``, a new one is written (0600) when absent."""
        try:
            key = path.read_bytes().strip()
        except FileNotFoundError:
            if not create:
                raise Unavailable(
                    f"the alert secrets key {path} does not exist", {"field": "alerts.secrets_key_path"}
                ) from None
            key = Fernet.generate_key()
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(key)
            key = path.read_bytes().strip()
        try:
            return cls(key)
        except ValueError as exc:
            raise InvalidArgument(
                f"{path} is not an alert secrets key (32 url-safe base64 bytes)", {"field": "alerts.secrets_key_path"}
            ) from exc

    def seal(self, value: dict[str, object]) -> str:
        return self._fernet.encrypt(json.dumps(value, sort_keys=True).encode()).decode()

    def open(self, token: str) -> dict[str, object]:
        try:
            data = json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken as exc:
            raise Unavailable(
                "a receiver's secrets cannot be decrypted with this server's alert secrets key "
                "(a different key file?); set the receiver again",
                {"field": "alerts.secrets_key_path"},
            ) from exc
        assert isinstance(data, dict)
        return data


def redact_url(url: str) -> str:
    """``https://hooks.slack.com/services/T0/B0/xyz`` → ``https://hooks.slack.com/… #1a2b3c4d``."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    digest = hashlib.sha256(url.encode()).hexdigest()[:8]
    return f"{parts.scheme}://{host}{port}/… #{digest}"


def secret_parts(url: str, extra: Iterable[str] = ()) -> list[str]:
    """Substrings to scrub: the URL, its userinfo, path and query, and ``extra`` values."""
    parts = urlsplit(url)
    found = [url, parts.path, parts.query, parts.username or "", parts.password or "", *extra]
    found += [segment for segment in parts.path.split("/") if len(segment) >= 6]
    return sorted({p for p in found if p and p != "/"}, key=len, reverse=True)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret part replaced by ``****`` (longest first)."""
    for secret in secret_parts_of(secrets):
        text = text.replace(secret, MASK)
    return text


def secret_parts_of(secrets: Iterable[str]) -> list[str]:
    found: set[str] = set()
    for secret in secrets:
        found.update(secret_parts(secret) if secret.startswith(("http://", "https://")) else [secret])
    return sorted((p for p in found if p), key=len, reverse=True)


__all__ = ["MASK", "SecretBox", "key_path", "redact_url", "scrub", "secret_parts"]
