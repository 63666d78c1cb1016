"""archiver.redact: credentials masked in URLs, DSNs and messages, everything else kept as it was;
and the places that describe a store, a catalog or a bad setting use it."""

from __future__ import annotations

from pathlib import Path

import pytest

from archiver.catalog.backend import open_catalog
from archiver.catalog.postgres import PostgresBackend
from archiver.config.settings import load_settings
from archiver.errors import ConfigError
from archiver.redact import is_secret_name, redact_text, redact_url
from archiver.storage.backend import open_store
from archiver.web.errors import public_detail

CASES = [
    ("postgresql://u@h/db?password=secret", "postgresql://u@h/db?password=***"),
    ("postgresql://u:secret@h/db", "postgresql://u:***@h/db"),
    ("postgresql://u:s%40c@h:5432/db?sslmode=require&sslpassword=secret#x",
     "postgresql://u:***@h:5432/db?sslmode=require&sslpassword=***#x"),
    ("postgres://u:p@ss@h/db", "postgres://u:***@h/db"),  # an unencoded @ in the password
    ("redis://:secret@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
    ("https://h/o?X-Amz-Signature=abc&X-Amz-Credential=AKIA%2F1&q=1",
     "https://h/o?X-Amz-Signature=***&X-Amz-Credential=***&q=1"),
    ("https://h/x?api_key=secret;token=secret&author=me", "https://h/x?api_key=***;token=***&author=me"),
    ("s3://bucket/prefix", "s3://bucket/prefix"),
    ("https://mastodon.social/@user/1", "https://mastodon.social/@user/1"),
    ("http://[::1", "http://[::1"),
    ("", ""),
]


@pytest.mark.parametrize(("url", "shown"), CASES)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert redact_url(shown) == shown  # idempotent


def test_secret_names() -> None:
    for name in ("password", "PGPASSWORD", "sslpassword", "passwd", "pwd", "secret", "client_secret", "token",
                 "auth_token", "access_token", "key", "api_key", "apikey", "AccessKey", "s3_secret_key",
                 "X-Amz-Signature", "sig", "Authorization"):
        assert is_secret_name(name), name
    for name in ("author", "design", "monkey", "keyword", "sslmode", "user", "host", "dbname", "q"):
        assert not is_secret_name(name), name


def test_redact_text_finds_every_url_and_libpq_pair() -> None:
    text = ("no article 'x' in the catalog (postgresql://u:pw1@h/db?password=pw2) and 'redis://:pw3@r:6379/0'; "
            "dsn host=h password=pw4 dbname=d; s3_secret_key = 'pw5' author=me")
    shown = redact_text(text)
    for secret in ("pw1", "pw2", "pw3", "pw4", "pw5"):
        assert secret not in shown
    assert "(postgresql://u:***@h/db?password=***)" in shown and "'redis://:***@r:6379/0'" in shown
    assert "dbname=d" in shown and "author=me" in shown and "no article 'x' in the catalog" in shown


def test_descriptions_mask_credentials(tmp_path: Path) -> None:
    assert PostgresBackend("postgresql://u:pw1@h/db?password=pw2").describe() == "postgresql://u:***@h/db?password=***"
    with pytest.raises(ConfigError) as bad_catalog:
        open_catalog("mysql://u:pw@h/db?password=pw")
    assert "pw@" not in str(bad_catalog.value) and "password=pw" not in str(bad_catalog.value)
    for url in ("s3://u:pw@bucket", "file:///x?token=pw"):
        with pytest.raises(ConfigError) as bad_store:
            open_store(load_settings(env={}).replace(home=str(tmp_path), storage=url))
        assert ":pw" not in str(bad_store.value) and "=pw" not in str(bad_store.value), str(bad_store.value)


def test_config_errors_mask_secret_settings(tmp_path: Path) -> None:
    conf = tmp_path / "archiver.toml"
    conf.write_text("s3_secret_key = 123456789\n")
    with pytest.raises(ConfigError) as exc:
        load_settings(env={}, config_file=conf)
    assert "123456789" not in str(exc.value) and "s3_secret_key = '***'" in str(exc.value)
    with pytest.raises(ConfigError) as exc:
        load_settings(env={"ARCHIVER_S3_MAX_ATTEMPTS": "https://u:pw@h/?token=pw"})
    assert "pw" not in str(exc.value) and "ARCHIVER_S3_MAX_ATTEMPTS" in str(exc.value)


def test_public_detail_hides_local_paths_and_credentials() -> None:
    roots = ["/srv/archiver-data"]
    message = ("cannot read 'articles/a/v1' in file:///srv/archiver-data/objects: denied; catalog "
               "sqlite:////srv/archiver-data/catalog.sqlite3, '/etc/archiver/secret.pem', "
               "postgresql://u:pw@h/db?password=pw, /srv/archiver-data/tmp")
    shown = public_detail(message, roots)
    assert "/srv" not in shown and "/etc" not in shown and "pw" not in shown and "file:" not in shown
    assert shown.startswith("cannot read 'articles/a/v1' in [local path]: denied")
