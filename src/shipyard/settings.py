"""Shipyard's one settings object, and where each value came from.

Precedence, lowest to highest: defaults < ``shipyard.toml`` < ``SHIPYARD_*`` environment
variables < explicit overrides (CLI flags, ``Client(...)`` arguments).

This is the only module that reads ``os.environ``. Environment names are derived from the
settings path: ``database.url`` is ``SHIPYARD_DATABASE_URL``, ``artifacts.s3_endpoint_url``
is ``SHIPYARD_ARTIFACTS_S3_ENDPOINT_URL``, the top-level ``home`` is ``SHIPYARD_HOME``.

The config file is, in order: an explicit path, ``$SHIPYARD_CONFIG``, ``./shipyard.toml``,
``$SHIPYARD_HOME/shipyard.toml``. A file that names an unknown setting is refused.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

from shipyard.errors import InvalidArgument

ENV_PREFIX = "SHIPYARD_"
MASK = "********"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class DatabaseSettings(_Section):
    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL. Unset: SQLite at $SHIPYARD_HOME/shipyard.db. "
        "PostgreSQL: postgresql+psycopg://user:pass@host:5432/db",
    )
    busy_timeout_ms: int = Field(default=30_000, ge=0, description="SQLite busy timeout.")
    pool_size: int = Field(default=10, ge=1, le=200, description="Connections per process (PostgreSQL).")
    auto_upgrade: bool = Field(
        default=False,
        description="Migrate an older database on start instead of refusing to start.",
    )
    echo: bool = Field(default=False, description="Log every SQL statement.")


class ArtifactSettings(_Section):
    url: str | None = Field(
        default=None,
        description="fsspec URL of the blob store. Unset: $SHIPYARD_HOME/artifacts. S3: s3://bucket/prefix",
    )
    s3_endpoint_url: str | None = Field(default=None, description="Custom S3 endpoint (MinIO, R2, moto).")
    s3_region: str | None = None
    s3_access_key_id: SecretStr | None = None
    s3_secret_access_key: SecretStr | None = None
    chunk_size: int = Field(default=1024 * 1024, ge=4096, description="Streaming chunk size in bytes.")
    verify_before_send_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=0,
        description="Blobs up to this size are verified before the first byte is served; "
        "larger ones are verified while streaming and the transfer is aborted on a mismatch.",
    )


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    default_page_size: int = Field(default=100, ge=1)
    max_page_size: int = Field(default=1000, ge=1)

    @model_validator(mode="after")
    def _page_sizes(self) -> ServerSettings:
        if self.default_page_size > self.max_page_size:
            raise ValueError(
                f"default_page_size ({self.default_page_size}) exceeds max_page_size ({self.max_page_size})"
            )
        return self


class ClientSettings(_Section):
    url: str | None = Field(
        default=None,
        description="Shipyard server URL. Unset: local mode (the API runs in-process).",
    )
    project: str = Field(default="default", description="Project used when none is named.")
    timeout_s: float = Field(default=60.0, gt=0)
    token: SecretStr | None = Field(
        default=None,
        description="API token sent as `Authorization: Bearer` to client.url (ignored in local mode).",
    )


class AuthSettings(_Section):
    """Authentication and authorization of ``shipyard server`` (local mode needs none)."""

    oidc_issuer: str | None = Field(
        default=None,
        description="OIDC issuer (the JWT `iss`). Set: bearer JWTs from this issuer are accepted besides API tokens.",
    )
    oidc_audience: str | None = Field(default=None, description="Required JWT `aud` (the client id Shipyard has).")
    oidc_jwks_url: str | None = Field(default=None, description="URL of the issuer's JSON Web Key Set.")
    oidc_username_claim: str = Field(
        default="sub",
        min_length=1,
        description="Claim that names the user (auto-provisioned on first sign-in). Use one the IdP controls.",
    )
    oidc_groups_claim: str = Field(default="groups", min_length=1, description="Claim listing the user's groups.")
    oidc_group_roles: list[str] = Field(
        default=[],
        description="Group to role: `group=org_admin`, `group=auditor` or `group=<project>:<role>`.",
    )
    oidc_algorithms: list[str] = Field(
        default=["RS256"], description="Accepted JWT signature algorithms (asymmetric only)."
    )
    oidc_jwks_cache_s: int = Field(default=300, ge=0, description="Seconds a fetched key set is reused.")
    oidc_leeway_s: int = Field(default=30, ge=0, le=600, description="Clock skew allowed on exp/nbf/iat.")
    failed_auth_limit: int = Field(
        default=20,
        ge=0,
        description="Failed authentications per source address within the window before 429 (0: no limit).",
    )
    failed_auth_window_s: int = Field(default=60, ge=1, description="Sliding window of failed_auth_limit, seconds.")
    cors_origins: list[str] = Field(
        default=[], description="Origins allowed by CORS. Empty: CORS closed (no CORS headers)."
    )
    token_default_days: int = Field(default=90, ge=1, description="Lifetime of a new API token unless one is given.")
    token_max_days: int = Field(default=365, ge=1, description="Longest lifetime an API token may be given.")

    @model_validator(mode="after")
    def _consistent(self) -> AuthSettings:
        if self.oidc_issuer and not (self.oidc_audience and self.oidc_jwks_url):
            missing = "oidc_audience" if not self.oidc_audience else "oidc_jwks_url"
            raise ValueError(f"oidc_issuer is set, so {missing} is required too")
        if self.token_default_days > self.token_max_days:
            raise ValueError(
                f"token_default_days ({self.token_default_days}) exceeds token_max_days ({self.token_max_days})"
            )
        return self


class AuditSettings(_Section):
    """The tamper-evident audit log (see docs/audit.md)."""

    signing_key_path: Path | None = Field(
        default=None,
        description="Ed25519 private key (PEM) that signs audit checkpoints; keep it outside the database and "
        "its backups. Unset: $SHIPYARD_HOME/keys/audit-signing.pem, created (0600) on first use.",
    )
    checkpoint_interval: int = Field(
        default=100,
        ge=0,
        description="Sign a checkpoint automatically whenever this many entries have been appended since the "
        "last one (0: only on demand, which leaves truncation of the newest entries undetectable).",
    )
    trusted_public_keys: list[Path] = Field(
        default_factory=list,
        description="PEM public keys of retired signing keys whose checkpoints still verify (key rotation).",
    )


class MonitoringSettings(_Section):
    """Where monitoring reads the prediction log and keeps feedback (see docs/monitoring.md)."""

    prediction_log_url: str | None = Field(
        default=None,
        description="Root of the prediction log the model servers write (shipyard serve --prediction-log). "
        "Unset: $SHIPYARD_HOME/prediction-log. A local directory.",
    )
    feedback_url: str | None = Field(
        default=None,
        description="Root of the feedback (ground-truth labels) log. Unset: $SHIPYARD_HOME/feedback. "
        "A local directory.",
    )
    retention_days: int = Field(
        default=30, ge=1, description="Default age (days) past which `shipyard monitor retention` deletes partitions."
    )
    schedule_interval_s: float = Field(
        default=60.0,
        ge=0,
        description="How often `shipyard server` runs the monitors whose cron schedule is due "
        "(0: never; then run `shipyard monitor run-due` from cron).",
    )
    batch_rows: int = Field(
        default=65_536,
        ge=1,
        description="Rows per record batch a monitor run reads from the prediction log and the reference; with "
        "sketch_capacity it bounds a run's memory, whatever the window's size.",
    )
    sketch_capacity: int = Field(
        default=65_536,
        ge=16,
        description="Points the streaming sketch of a numeric column keeps in a monitor run: windows and references "
        "of up to this many rows (or distinct values) are compared exactly, larger ones within about "
        "2 / sketch_capacity in rank.",
    )
    query_memory_mb: int = Field(
        default=256,
        ge=32,
        description="Memory (MiB) DuckDB may use in a monitor run (the feedback join, the duplicate count, sorting "
        "the labelled rows); beyond it DuckDB spills to a temporary directory.",
    )
    report_sample_rows: int = Field(
        default=20_000,
        ge=100,
        description="Rows of the window and of the reference sampled (at random) for the distribution plots of "
        "`shipyard monitor report`.",
    )


class AlertsSettings(_Section):
    """Alerting (see docs/alerts.md)."""

    secrets_key_path: Path | None = Field(
        default=None,
        description="Key (Fernet) that encrypts webhook receivers' URLs, headers and signing secrets in the "
        "database; every server replica needs the same file. Unset: $SHIPYARD_HOME/keys/alerts-secrets.key, "
        "created (0600) on first use.",
    )


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "console"] = "json"


class Settings(BaseSettings):
    """Effective configuration. Build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="forbid",
        case_sensitive=False,
    )

    home: Path = Field(default_factory=lambda: Path("~/.shipyard").expanduser())
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    artifacts: ArtifactSettings = Field(default_factory=ArtifactSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    client: ClientSettings = Field(default_factory=ClientSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    alerts: AlertsSettings = Field(default_factory=AlertsSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.home / 'shipyard.db'}"

    @property
    def artifacts_url(self) -> str:
        return self.artifacts.url or str(self.home / "artifacts")

    @property
    def prediction_log_url(self) -> str:
        return self.monitoring.prediction_log_url or str(self.home / "prediction-log")

    @property
    def feedback_url(self) -> str:
        return self.monitoring.feedback_url or str(self.home / "feedback")

    @property
    def is_embedded(self) -> bool:
        """True when both stores are the zero-config local defaults."""
        return self.database.url is None and self.artifacts.url is None


@dataclass(frozen=True)
class SettingValue:
    key: str
    value: Any
    source: str


def _deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


def _unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, value in flat.items():
        node = out
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def env_name(key: str) -> str:
    """``database.url`` -> ``SHIPYARD_DATABASE_URL``."""
    return ENV_PREFIX + key.replace(".", "_").upper()


def child_environment(settings: Settings) -> dict[str, str]:
    """The environment for a child ``shipyard`` process (a model server the controller
    starts): this process's, plus the settings it resolved from flags and files, so the
    child finds the same home, database, artifact store and server."""
    env = dict(os.environ)
    env[env_name("home")] = str(settings.home)
    pairs = {
        "database.url": settings.database.url,
        "artifacts.url": settings.artifacts.url,
        "client.url": settings.client.url,
    }
    for key, value in pairs.items():
        if value:
            env[env_name(key)] = str(value)
    if settings.client.token is not None:
        env[env_name("client.token")] = settings.client.token.get_secret_value()
    return env


def find_config_file(explicit: Path | None, home: Path, environ: Mapping[str, str]) -> Path | None:
    if explicit is not None:
        if not explicit.is_file():
            raise InvalidArgument(f"config file {explicit} does not exist", {"field": "config"})
        return explicit
    from_env = environ.get(ENV_PREFIX + "CONFIG")
    if from_env:
        path = Path(from_env).expanduser()
        if not path.is_file():
            raise InvalidArgument(f"SHIPYARD_CONFIG points at {path}, which does not exist", {"field": "config"})
        return path
    for candidate in (Path.cwd() / "shipyard.toml", home / "shipyard.toml"):
        if candidate.is_file():
            return candidate
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidArgument(f"{path} is not valid TOML: {exc}", {"field": "config"}) from exc


def _read_env() -> dict[str, Any]:
    source = EnvSettingsSource(
        Settings,
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="_",
        env_nested_max_split=1,
        case_sensitive=False,
    )
    data = source()
    return {k: v for k, v in data.items() if v is not None}


@dataclass(frozen=True)
class LoadedSettings:
    settings: Settings
    config_file: Path | None
    layers: dict[str, dict[str, Any]]  # source label -> flat values it set

    def explain(self) -> list[SettingValue]:
        """Every effective setting, masked, with the layer that decided it."""
        effective = _flatten(self.settings.model_dump(mode="python"))
        rows = []
        for key in sorted(effective):
            source = "default"
            for label, flat in self.layers.items():  # ordered low -> high
                if key in flat:
                    source = f"env:{env_name(key)}" if label == "env" else label
            rows.append(SettingValue(key, mask_value(key, effective[key]), source))
        return rows


def mask_url_password(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", f":{MASK}@", 1)
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def mask_value(key: str, value: Any) -> Any:
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, str) and key.endswith("url"):
        return mask_url_password(value)
    if isinstance(value, Path):
        return str(value)
    return value


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    config_file: Path | None = None,
) -> LoadedSettings:
    """Build the effective settings from every layer.

    ``overrides`` are flat (``{"database.url": "..."}``) or nested; ``None`` values are
    ignored so unset CLI flags do not mask lower layers.
    """
    cli_flat = {k: v for k, v in _flatten(dict(overrides or {})).items() if v is not None}
    try:
        env_nested = _read_env()
    except Exception as exc:  # pydantic-settings raises SettingsError on malformed values
        raise InvalidArgument(f"invalid SHIPYARD_* environment variable: {exc}", {"field": "environment"}) from exc
    env_flat = _flatten(env_nested)

    home_raw = cli_flat.get("home") or env_flat.get("home") or "~/.shipyard"
    home = Path(str(home_raw)).expanduser()
    path = find_config_file(config_file, home, os.environ)
    file_flat = _flatten(_read_toml(path)) if path else {}

    layers: dict[str, dict[str, Any]] = {}
    if file_flat:
        layers[f"file:{path}"] = file_flat
    if env_flat:
        layers["env"] = env_flat
    if cli_flat:
        layers["override"] = cli_flat
    merged: dict[str, Any] = {}
    for flat in layers.values():
        merged = _deep_merge(merged, _unflatten(flat))
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        origin = next(
            (
                label
                for label, flat in reversed(layers.items())
                if any(k == key or k.startswith(key + ".") for k in flat)
            ),
            "default",
        )
        if origin == "env":
            names = [env_name(k) for k in layers["env"] if k == key or k.startswith(key + ".")]
            origin = f"env {', '.join(names)}"
        raise InvalidArgument(
            f"setting '{key}' from {origin}: {first['msg']}",
            {"field": key, "source": origin, "errors": len(exc.errors())},
        ) from None
    settings.home = settings.home.expanduser()
    return LoadedSettings(settings=settings, config_file=path, layers=layers)


__all__ = [
    "AlertsSettings",
    "ArtifactSettings",
    "AuditSettings",
    "AuthSettings",
    "ClientSettings",
    "DatabaseSettings",
    "LoadedSettings",
    "LoggingSettings",
    "MonitoringSettings",
    "ServerSettings",
    "SettingValue",
    "Settings",
    "env_name",
    "load_settings",
    "mask_url_password",
]
