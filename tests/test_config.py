"""Settings: documented defaults, environment overrides, clear errors."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from archiver.config.settings import DEFAULTS_FILE, Settings, load_settings
from archiver.errors import ConfigError


def test_every_setting_is_in_the_documented_defaults_file() -> None:
    text = DEFAULTS_FILE.read_text()
    keys = set(re.findall(r"^([a-z_0-9]+) =", text, re.M))
    fields = {f.name for f in dataclasses.fields(Settings)} - {"extra"}
    assert keys == fields


def test_environment_overrides_defaults() -> None:
    s = load_settings(env={"ARCHIVER_STORAGE": "s3://b/p", "ARCHIVER_FETCH_RETRIES": "7",
                           "ARCHIVER_MEDIA_DERIVATIVES": "no", "ARCHIVER_FETCH_DEADLINE": "1.5"})
    assert s.storage == "s3://b/p"
    assert s.fetch_retries == 7
    assert s.media_derivatives is False
    assert s.fetch_deadline == 1.5
    assert load_settings(env={}).twitter_oembed_url == "https://publish.twitter.com/oembed"


def test_bad_value_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="ARCHIVER_FETCH_RETRIES"):
        load_settings(env={"ARCHIVER_FETCH_RETRIES": "many"})


def test_derived_locations(tmp_path: Path) -> None:
    s = load_settings(env={"ARCHIVER_HOME": str(tmp_path), "ARCHIVER_FETCH_ALLOW": "127.0.0.1, ::1 ,"})
    assert s.storage_url == (tmp_path / "objects").as_uri()
    assert s.catalog_url == f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    assert s.fetch_allow_list == ["127.0.0.1", "::1"]
