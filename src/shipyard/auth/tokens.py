"""API token format, generation and verification (pure functions, no database).

A token reads ``sy_<prefix>_<secret>``:

* ``prefix``: 12 lowercase hex characters, random, stored in clear and unique. It finds
  the token's row with one indexed lookup and names the token in lists and logs; it
  proves nothing on its own.
* ``secret``: 32 bytes from :mod:`secrets` (256 bits), base32, lowercase, unpadded (52
  characters). Only ``sha256(secret)`` is stored; the secret itself is shown once, when
  the token is issued, and cannot be recovered.

Why sha256 and not bcrypt/argon2: slow password hashes exist to make guessing *low-entropy*
secrets (passwords people choose) expensive after a database leak. A 256-bit random secret
cannot be guessed at any hashing speed: a leaked ``secret_sha256`` is as useless as a
bcrypt hash would be. A slow hash would instead cost ~100 ms of CPU on *every* API call
(each request verifies its token) and hand attackers a cheap denial-of-service lever. The
stored digest is compared with :func:`hmac.compare_digest` (constant time).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

TOKEN_PREFIX = "sy_"
_SHAPE = re.compile(r"^sy_([0-9a-f]{12})_([a-z2-7]{52})$")


@dataclass(frozen=True)
class TokenParts:
    prefix: str
    secret: str


def new_token() -> tuple[str, TokenParts]:
    """A fresh token: the full text (show it once) and its parts."""
    prefix = secrets.token_hex(6)
    secret = base64.b32encode(secrets.token_bytes(32)).decode().rstrip("=").lower()
    return f"{TOKEN_PREFIX}{prefix}_{secret}", TokenParts(prefix, secret)


def parse(token: str) -> TokenParts | None:
    """The parts of a well-formed Shipyard token, or None for anything else."""
    match = _SHAPE.match(token)
    if match is None:
        return None
    return TokenParts(match.group(1), match.group(2))


def looks_like_shipyard_token(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def matches(secret: str, stored_digest: str) -> bool:
    """Constant-time comparison of a presented secret against the stored digest."""
    return hmac.compare_digest(digest(secret), stored_digest)


# A digest no secret hashes to in practice: compared against when the prefix is unknown,
# so a miss costs the same as a wrong secret.
DECOY_DIGEST = "0" * 64
