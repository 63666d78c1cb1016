"""Settings: defaults in the package, the documented example in step with them, a config file, environment
overrides, providers' own settings, clear errors."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

import archiver.config.settings as settings_mod
from archiver.config.settings import Settings, load_settings
from archiver.errors import ConfigError
from archiver.providers.base import SettingSpec
from archiver.providers.registry import provider_settings

EXAMPLE = Path(__file__).resolve().parent.parent / "config" / "archiver.example.toml"


def _example_paragraphs() -> list[list[str]]:
    """The example file's lines in paragraphs (runs of lines between blank lines)."""
    paragraphs: list[list[str]] = [[]]
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip():
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    return [p for p in paragraphs if p]


def test_the_example_lists_every_setting_with_its_default_and_nothing_else() -> None:
    documented = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    defaults = Settings().model_dump()
    missing = [f"{name} = {value!r}" for name, value in defaults.items() if name not in documented]
    assert not missing, f"add to {EXAMPLE.name}, each with a comment: {missing}"
    unknown = sorted(set(documented) - set(defaults))
    assert not unknown, f"{EXAMPLE.name} documents settings the model does not have: {unknown}"
    differ = {name: (documented[name], defaults[name]) for name in defaults
              if (type(documented[name]), documented[name]) != (type(defaults[name]), defaults[name])}
    assert not differ, f"documented default != the model's (documented, model): {differ}"


def test_every_documented_setting_has_a_comment() -> None:
    for paragraph in _example_paragraphs():
        keys = [m.group(1) for line in paragraph if (m := re.match(r"([a-z_0-9]+) =", line))]
        if keys:
            assert paragraph[0].startswith("#"), f"no comment before {keys}"


def test_the_example_is_a_valid_config_file() -> None:
    assert load_settings(env={}, config_file=EXAMPLE) == Settings()


def test_environment_overrides_defaults() -> None:
    s = load_settings(env={"ARCHIVER_STORAGE": "s3://b/p", "ARCHIVER_FETCH_RETRIES": "7",
                           "ARCHIVER_MEDIA_DERIVATIVES": "no", "ARCHIVER_FETCH_DEADLINE": "1.5"})
    assert s.storage == "s3://b/p"
    assert s.fetch_retries == 7
    assert s.media_derivatives is False
    assert s.fetch_deadline == 1.5
    assert load_settings(env={}).twitter_oembed_url == "https://publish.twitter.com/oembed"


def test_switches_read_as_before() -> None:
    words = {"1": True, " Yes ": True, "ON": True, "true": True, "0": False, "off": False, "": False}
    for word, value in words.items():
        assert load_settings(env={"ARCHIVER_MEDIA_DERIVATIVES": word}).media_derivatives is value, word


def test_unknown_archiver_variables_are_ignored() -> None:
    assert load_settings(env={"ARCHIVER_DEBUG": "1", "ARCHIVER_LOG_LEVEL": "INFO"}) == Settings()


def test_bad_value_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="ARCHIVER_FETCH_RETRIES") as caught:
        load_settings(env={"ARCHIVER_FETCH_RETRIES": "many"})
    assert "\n" not in str(caught.value) and "'many'" in str(caught.value)


def test_a_config_file_under_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "archiver.toml"
    path.write_text('fetch_retries = 5\nstorage = "s3://from-file"\ntwitter_oembed_url = "http://file/oembed"\n')
    s = load_settings(env={"ARCHIVER_CONFIG_FILE": str(path), "ARCHIVER_STORAGE": "s3://from-env"})
    assert (s.fetch_retries, s.storage, s.twitter_oembed_url) == (5, "s3://from-env", "http://file/oembed")
    assert load_settings(env={}, config_file=path).storage == "s3://from-file"
    assert load_settings(env={"ARCHIVER_CONFIG_FILE": ""}) == Settings()


def test_config_file_errors_name_the_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "archiver.toml"
    path.write_text("fetch_retrys = 5\n")
    with pytest.raises(ConfigError, match=r"archiver\.toml: unknown setting\(s\) fetch_retrys"):
        load_settings(env={"ARCHIVER_CONFIG_FILE": str(path)})
    path.write_text('fetch_retries = "many"\n')
    with pytest.raises(ConfigError, match=r"archiver\.toml: fetch_retries = 'many'"):
        load_settings(env={}, config_file=path)
    path.write_text("fetch_retries = \n")
    with pytest.raises(ConfigError, match=r"archiver\.toml"):
        load_settings(env={}, config_file=path)
    with pytest.raises(ConfigError, match="ARCHIVER_CONFIG_FILE: no such file"):
        load_settings(env={"ARCHIVER_CONFIG_FILE": str(tmp_path / "missing.toml")})


def test_derived_locations(tmp_path: Path) -> None:
    s = load_settings(env={"ARCHIVER_HOME": str(tmp_path), "ARCHIVER_FETCH_ALLOW": "127.0.0.1, ::1 ,"})
    assert s.storage_url == (tmp_path / "objects").as_uri()
    assert s.catalog_url == f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    assert s.fetch_allow_list == ["127.0.0.1", "::1"]
    assert s.replace(capture_retry_delays="1, 2.5").capture_retry_delay_list == [1.0, 2.5]


def test_frozen_replace_validates_and_unknown_names_are_refused() -> None:
    s = Settings(fetch_allow="127.0.0.1")
    with pytest.raises(ValidationError):
        s.fetch_allow = "x"  # type: ignore[misc]
    changed = s.replace(fetch_retries="4", home="/tmp/h")
    assert (changed.fetch_retries, changed.home, changed.fetch_allow, s.fetch_retries) == (4, "/tmp/h", "127.0.0.1", 2)
    with pytest.raises(ValidationError):
        s.replace(fetch_retrys=4)
    with pytest.raises(ValidationError):
        Settings(no_such_setting="x")


def test_every_provider_setting_is_a_setting() -> None:
    specs = provider_settings()
    assert specs, "the registry declares no provider settings"
    defaults = Settings().model_dump()
    for spec in specs:
        assert defaults[spec.name] == spec.default
        env = load_settings(env={f"ARCHIVER_{spec.name.upper()}": "http://env.example/"})
        assert getattr(env, spec.name) == "http://env.example/"
        assert getattr(Settings(**{spec.name: "http://kw/"}).replace(home="/x"), spec.name) == "http://kw/"
    with pytest.raises(ValidationError, match="not a string"):
        Settings(**{specs[0].name: 3})


def test_a_new_providers_setting_needs_no_edit_here(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = SettingSpec("pinterest_oembed_url", "https://www.pinterest.com/oembed.json", "Pinterest's oEmbed.")
    monkeypatch.setattr(settings_mod, "provider_settings", lambda: [*provider_settings(), spec])
    assert Settings().pinterest_oembed_url == spec.default
    assert load_settings(env={"ARCHIVER_PINTEREST_OEMBED_URL": "http://p/"}).pinterest_oembed_url == "http://p/"
    assert Settings(pinterest_oembed_url="http://q/").replace(home="/y").pinterest_oembed_url == "http://q/"


@pytest.mark.parametrize("first", ["archiver.config.settings", "archiver.capture.fetch", "archiver.providers.twitter"])
def test_settings_load_whichever_module_is_imported_first(first: str) -> None:
    # Provider modules import modules that import the settings; the registry is read when settings are
    # made, so no import order meets a half-imported module.
    code = (f"import {first}\nfrom archiver.config.settings import load_settings\n"
            "print(load_settings(env={}).twitter_oembed_url)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "https://publish.twitter.com/oembed"


@pytest.mark.parametrize(("name", "value"), [
    ("capture_threads", "0"), ("host_concurrency", "-2"), ("fetch_deadline", "0"), ("task_time_limit", "0"),
    ("max_bytes_image", "-1"), ("media_workers", "0"), ("fetch_retries", "-1"), ("sweep_interval", "-5"),
    ("capture_retry_delays", "60,x"), ("capture_retry_delays", "60,-1"), ("request_body_timeout", "0"),
    # no inf or nan; and no time so long that now plus it is a date Python cannot hold
    ("archive_deadline", "inf"), ("fetch_deadline", "nan"), ("host_rate_per_second", "inf"),
    ("capture_fresh_for", "1000000000000000000"), ("session_lifetime", "99999999999"),
    ("object_lock_retention_days", "99999999"), ("health_dead_after_hours", "1e12"), ("lock_lease", "1e300"),
])
def test_a_setting_out_of_its_range_is_a_one_line_config_error(name: str, value: str) -> None:
    """A count, size or time that cannot work (no capture threads, a zero deadline, a negative retry
    count) is refused at start with the variable's name, not found out later as a hang or a crash."""
    with pytest.raises(ConfigError) as err:
        load_settings(env={f"ARCHIVER_{name.upper()}": value})
    assert f"ARCHIVER_{name.upper()}" in str(err.value) and "\n" not in str(err.value)


def test_sizes_are_not_capped_like_times() -> None:
    s = load_settings(env={"ARCHIVER_MAX_ARTICLE_BYTES": str(10**14), "ARCHIVER_ARCHIVE_DEADLINE": "86400000"})
    assert (s.max_article_bytes, s.archive_deadline) == (10**14, 86400000.0)


def test_zero_is_allowed_where_it_means_none() -> None:
    s = load_settings(env={"ARCHIVER_FETCH_RETRIES": "0", "ARCHIVER_MEDIA_MEMORY_BUDGET": "0",
                           "ARCHIVER_CAPTURE_RETRY_DELAYS": "", "ARCHIVER_HEALTH_DEAD_AFTER_HOURS": "0"})
    assert (s.fetch_retries, s.media_memory_budget, s.capture_retry_delay_list) == (0, 0, [])
