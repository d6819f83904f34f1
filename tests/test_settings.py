"""Configuration precedence: defaults < shipyard.toml < SHIPYARD_* env < overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.errors import InvalidArgument
from shipyard.settings import env_name, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("SHIPYARD_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults_are_embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    loaded = load_settings()
    s = loaded.settings
    assert s.home == tmp_path / ".shipyard"
    assert s.database_url == f"sqlite:///{tmp_path / '.shipyard' / 'shipyard.db'}"
    assert s.artifacts_url == str(tmp_path / ".shipyard" / "artifacts")
    assert s.is_embedded
    assert loaded.config_file is None
    assert all(row.source == "default" for row in loaded.explain() if row.key != "home")


def test_each_layer_overrides_the_one_below(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = write_toml(
        tmp_path / "shipyard.toml",
        '[server]\nport = 7000\nhost = "127.0.0.2"\nworkers = 3\n[logging]\nlevel = "DEBUG"\n',
    )
    monkeypatch.setenv("SHIPYARD_SERVER_PORT", "7001")
    monkeypatch.setenv("SHIPYARD_SERVER_HOST", "127.0.0.3")
    loaded = load_settings({"server.port": 7002}, config_file=cfg)
    s = loaded.settings
    assert s.server.port == 7002  # override beats env beats file
    assert s.server.host == "127.0.0.3"  # env beats file
    assert s.server.workers == 3  # file beats default
    assert s.logging.level == "DEBUG"
    assert s.server.max_page_size == 1000  # default
    sources = {row.key: row.source for row in loaded.explain()}
    assert sources["server.port"] == "override"
    assert sources["server.host"] == "env:SHIPYARD_SERVER_HOST"
    assert sources["server.workers"] == f"file:{cfg}"
    assert sources["server.max_page_size"] == "default"


def test_none_override_does_not_mask_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_CLIENT_PROJECT", "fraud")
    assert load_settings({"client.project": None}).settings.client.project == "fraud"


def test_config_file_discovery_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    write_toml(home / "shipyard.toml", "[server]\nport = 1111\n")
    monkeypatch.setenv("SHIPYARD_HOME", str(home))
    assert load_settings().settings.server.port == 1111  # $SHIPYARD_HOME/shipyard.toml
    write_toml(tmp_path / "shipyard.toml", "[server]\nport = 2222\n")
    assert load_settings().settings.server.port == 2222  # ./shipyard.toml wins over home
    other = write_toml(tmp_path / "other.toml", "[server]\nport = 3333\n")
    monkeypatch.setenv("SHIPYARD_CONFIG", str(other))
    assert load_settings().settings.server.port == 3333  # $SHIPYARD_CONFIG wins
    explicit = write_toml(tmp_path / "explicit.toml", "[server]\nport = 4444\n")
    assert load_settings(config_file=explicit).settings.server.port == 4444


def test_env_names_follow_the_settings_path(monkeypatch: pytest.MonkeyPatch) -> None:
    assert env_name("artifacts.s3_endpoint_url") == "SHIPYARD_ARTIFACTS_S3_ENDPOINT_URL"
    monkeypatch.setenv("SHIPYARD_ARTIFACTS_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("SHIPYARD_DATABASE_AUTO_UPGRADE", "true")
    s = load_settings().settings
    assert s.artifacts.s3_endpoint_url == "http://127.0.0.1:9000"
    assert s.database.auto_upgrade is True


def test_secrets_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_ARTIFACTS_S3_SECRET_ACCESS_KEY", "hunter2")
    monkeypatch.setenv("SHIPYARD_DATABASE_URL", "postgresql+psycopg://app:s3cr3t@db.internal:5432/shipyard")
    loaded = load_settings()
    assert loaded.settings.artifacts.s3_secret_access_key is not None
    assert loaded.settings.artifacts.s3_secret_access_key.get_secret_value() == "hunter2"
    shown = {row.key: row.value for row in loaded.explain()}
    assert shown["artifacts.s3_secret_access_key"] == "********"
    assert shown["database.url"] == "postgresql+psycopg://app:********@db.internal:5432/shipyard"
    assert "hunter2" not in repr(loaded.settings)
    assert "s3cr3t" not in str(shown)


def test_unknown_key_in_file_is_refused(tmp_path: Path) -> None:
    cfg = write_toml(tmp_path / "bad.toml", "[database]\nuri = 'sqlite://'\n")
    with pytest.raises(InvalidArgument, match=r"database\.uri"):
        load_settings(config_file=cfg)


def test_bad_value_names_key_and_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_SERVER_PORT", "99999")
    with pytest.raises(InvalidArgument) as info:
        load_settings()
    assert "server.port" in info.value.message
    assert "SHIPYARD_SERVER_PORT" in info.value.message


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    broken = write_toml(tmp_path / "broken.toml", "[server\nport=")
    with pytest.raises(InvalidArgument, match="not valid TOML"):
        load_settings(config_file=broken)
    with pytest.raises(InvalidArgument, match="does not exist"):
        load_settings(config_file=tmp_path / "missing.toml")


def test_section_rule_errors_name_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_SERVER_DEFAULT_PAGE_SIZE", "2000")
    with pytest.raises(InvalidArgument) as info:
        load_settings()
    assert "SHIPYARD_SERVER_DEFAULT_PAGE_SIZE" in info.value.message
    assert "exceeds max_page_size" in info.value.message
