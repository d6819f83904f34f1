"""The checkpoint signing key: Ed25519, kept in a file outside the database.

Whoever can write the database can rewrite the whole chain and recompute every hash; what
they cannot do without this file is sign a checkpoint. The private key lives at
``audit.signing_key_path`` (default ``$SHIPYARD_HOME/keys/audit-signing.pem``), created
on first need with mode 0600 in a 0700 directory. Its public half verifies checkpoints
anywhere, with no database (``shipyard audit verify-export``).

A key is named by its id: the first 16 hex digits of the sha256 of the raw 32-byte
public key. Retired keys stay trusted for old checkpoints through
``audit.trusted_public_keys``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from shipyard.audit.chain import sha256_hex
from shipyard.errors import InvalidArgument

ALGORITHM = "ed25519"
DEFAULT_KEY_FILE = Path("keys") / "audit-signing.pem"

# Plain logging, not structlog: this runs in local mode too, where stdout is the
# command's output and must carry nothing else; a warning goes to stderr.
log = logging.getLogger("shipyard.audit")


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return sha256_hex(raw)[:16]


def public_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def parse_public_key(pem: str | bytes, where: str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM; ``where`` names the file or field for the error."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise InvalidArgument(f"{where} is not a PEM public key", {"field": where}) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidArgument(f"{where} is not an Ed25519 public key", {"field": where})
    return key


def read_public_key(path: Path, field: str) -> Ed25519PublicKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidArgument(f"cannot read {field} {path}: {exc.strerror}", {"field": field}) from exc
    return parse_public_key(data, field)


class Signer:
    """Signs checkpoints with the private key."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public_key = private.public_key()
        self.key_id = key_id(self.public_key)

    def sign(self, data: bytes) -> str:
        return self._private.sign(data).hex()


class KeyRing:
    """The public keys a verifier trusts, by key id."""

    def __init__(self, keys: Iterable[Ed25519PublicKey] = ()) -> None:
        self.keys: dict[str, Ed25519PublicKey] = {}
        for key in keys:
            self.keys[key_id(key)] = key

    def verify(self, key: str, data: bytes, signature_hex: str) -> bool:
        """True when ``key`` is trusted and signed ``data``."""
        public = self.keys.get(key)
        if public is None:
            return False
        try:
            public.verify(bytes.fromhex(signature_hex), data)
        except (InvalidSignature, ValueError):
            return False
        return True

    def pems(self) -> dict[str, str]:
        return {kid: public_pem(key) for kid, key in self.keys.items()}


def load_or_create_signing_key(path: Path) -> Signer:
    """Read the private key at ``path``, creating it (0600, parents 0700) if missing.

    Creation is atomic even when several processes start at once: each writes its own
    temporary file and only the first ``link`` to ``path`` wins; the others read it.
    """
    field = "audit.signing_key_path"
    if not path.exists():
        _create(path, field)
    try:
        data = path.read_bytes()
        mode = path.stat().st_mode
    except OSError as exc:
        raise InvalidArgument(f"cannot read the audit signing key {path}: {exc.strerror}", {"field": field}) from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("the audit signing key %s is readable by other users; chmod 600 it", path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(
            f"{path} is not an unencrypted PEM private key (audit.signing_key_path)", {"field": field}
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidArgument(f"{path} is not an Ed25519 private key (audit.signing_key_path)", {"field": field})
    return Signer(key)


def _create(path: Path, field: str) -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileExistsError):  # another process won the race: use its key
            os.link(temporary, path)
    except OSError as exc:
        raise InvalidArgument(f"cannot create the audit signing key {path}: {exc.strerror}", {"field": field}) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
