"""One contract for both object stores: a local directory and S3 on a real SeaweedFS."""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError

from archiver.config.settings import Settings
from archiver.errors import ConfigError
from archiver.storage.backend import open_store
from archiver.storage.base import LockConfig, ObjectNotFound, ObjectStore, StoreError
from archiver.storage.layout import blob_key
from archiver.storage.local import LocalStore
from archiver.storage.s3 import S3Store
from tests.harness.services import SeaweedFS, free_port

BASE = "https://media.example.org/archive"


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_settings: Callable[..., Settings],
          tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return open_store(tmp_settings(storage=(tmp_path / "objects").as_uri(), public_base_url=BASE + "/"))
    s3: SeaweedFS = request.getfixturevalue("s3")
    bucket = request.getfixturevalue("s3_bucket")
    return open_store(tmp_settings(public_base_url=BASE, **s3.settings_overrides(bucket, "site/prod")))


@pytest.fixture
def lock_store(s3: SeaweedFS, tmp_settings: Callable[..., Settings]) -> S3Store:
    bucket = s3.make_bucket(object_lock=True)
    st = open_store(tmp_settings(**s3.settings_overrides(bucket)))
    assert isinstance(st, S3Store)
    return st


def test_put_get_exists_and_head(store: ObjectStore) -> None:
    key = "posts/twitter/1234567890/c1"  # no extension: SeaweedFS guesses types from extensions
    assert not store.exists(key)
    assert store.put(key, b'{"a": 1}', content_type="application/json", metadata={"Capture-Id": "c1"})
    assert store.exists(key)
    assert store.get(key) == b'{"a": 1}'
    info = store.head(key)
    assert (info.size, info.content_type, info.metadata) == (8, "application/json", {"capture-id": "c1"})
    assert store.put(key, b"second")  # an unconditional put replaces
    assert store.get(key) == b"second"
    assert store.head(key).content_type == "application/octet-stream"


def test_unicode_keys_and_empty_objects(store: ObjectStore) -> None:
    key = "articles/हिन्दी-ख़बर/source"
    assert store.put(key, b"")
    assert store.get(key) == b""
    assert list(store.list("articles/हिन्दी")) == [key]


def test_list_is_sorted_by_string_prefix(store: ObjectStore) -> None:
    keys = ["articles/a1/v10", "articles/a1/v2", "articles/a1/v1.patch.json", "articles/a1/source",
            "articles/a10/v1", "articles/b/v1", "blobs/sha256/00/x"]
    for k in reversed(keys):
        store.put(k, k.encode())
    expected = ["articles/a1/v1.patch.json", "articles/a1/v10", "articles/a1/v2"]
    assert list(store.list("articles/a1/v")) == expected
    assert list(store.list("articles/a1/")) == sorted(k for k in keys if k.startswith("articles/a1/"))
    assert list(store.list("articles/a1")) == sorted(k for k in keys if k.startswith("articles/a1"))
    assert list(store.list("")) == sorted(keys)
    assert list(store.list("nothing/here")) == []


def test_conditional_put_never_clobbers(store: ObjectStore) -> None:
    assert store.put("plans/p", b"first", if_none_match=True) is True
    assert store.put("plans/p", b"second", if_none_match=True, content_type="text/plain") is False
    assert store.get("plans/p") == b"first"
    assert store.head("plans/p").content_type == "application/octet-stream"


def test_racing_conditional_puts_have_one_winner(store: ObjectStore) -> None:
    barrier = threading.Barrier(8)
    results: dict[int, bool] = {}

    def worker(i: int) -> None:
        barrier.wait()
        results[i] = store.put("race/key", f"writer {i}".encode(), if_none_match=True)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    winners = [i for i, won in results.items() if won]
    assert len(results) == 8 and len(winners) == 1
    assert store.get("race/key") == f"writer {winners[0]}".encode()


def test_put_blob_is_content_addressed_and_idempotent(store: ObjectStore) -> None:
    data = b"\x89PNG\r\n\x1a\n not really a png"
    sha = hashlib.sha256(data).hexdigest()
    assert store.put_blob(data, "image/png") == (sha, f"blobs/sha256/{sha[:2]}/{sha}", True)
    assert store.put_blob(data, "image/png") == (sha, blob_key(sha), False)
    assert store.get(blob_key(sha)) == data
    assert store.head(blob_key(sha)).content_type == "image/png"
    other = store.put_blob(b"other bytes", "image/jpeg")
    assert other[0] != sha and other[2] is True


def test_s3_blob_carries_the_sha256_checksum(s3: SeaweedFS, s3_bucket: str,
                                             tmp_settings: Callable[..., Settings]) -> None:
    st = open_store(tmp_settings(**s3.settings_overrides(s3_bucket, "pre")))
    assert isinstance(st, S3Store)
    data = b"some original image bytes"
    _, key, _ = st.put_blob(data, "image/jpeg")
    expected = base64.b64encode(hashlib.sha256(data).digest()).decode()
    raw = s3.client().head_object(Bucket=s3_bucket, Key=f"pre/{key}", ChecksumMode="ENABLED")
    assert raw["ChecksumSHA256"] == expected
    assert st.checksum_sha256(key) == expected


@pytest.mark.parametrize("key", [
    "", "/abs/key", "a//b", "a/", "a/../b", "..", "./a", "a/./b", "a\\b", "a\x00b", "a\nb", "x" * 256,
    "/".join(["abcd"] * 300),
])
def test_bad_keys_are_rejected(store: ObjectStore, key: str) -> None:
    with pytest.raises(ValueError):
        store.put(key, b"x")
    with pytest.raises(ValueError):
        store.get(key)
    with pytest.raises(ValueError):
        store.exists(key)
    with pytest.raises(ValueError):
        store.public_url(key)


@pytest.mark.parametrize("prefix", ["/etc", "../", "a/../../b", "a\\b"])
def test_bad_prefixes_are_rejected(store: ObjectStore, prefix: str) -> None:
    with pytest.raises(ValueError):
        list(store.list(prefix))


def test_missing_objects(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound):
        store.get("no/such/key")
    with pytest.raises(KeyError):  # ObjectNotFound is a KeyError for callers that expect one
        store.head("no/such/key")
    assert not store.exists("no/such/key")
    store.put("dir/child", b"x")
    assert not store.exists("dir")
    with pytest.raises(ObjectNotFound):
        store.get("dir")


def test_public_url_is_stable_and_not_presigned(store: ObjectStore) -> None:
    key = "derived/abc/web.webp"
    url = store.public_url(key)
    assert url == f"{BASE}/{key}"
    assert store.public_url(key) == url
    assert "?" not in url and "amz" not in url.lower()
    assert store.public_url("posts/x/a b#c.json") == f"{BASE}/posts/x/a%20b%23c.json"


@pytest.mark.parametrize("base", ["", "/media", "ftp://cdn.example/m", "https://cdn.example/m?X-Amz-Expires=604800",
                                  "https://cdn.example/m#x"])
def test_public_base_url_must_be_a_plain_http_url(base: str, tmp_settings: Callable[..., Settings]) -> None:
    # Refused when the settings load (not an http(s) URL) or when the store opens (a query, a fragment).
    with pytest.raises((ConfigError, ValidationError), match="public_base_url"):
        open_store(tmp_settings(public_base_url=base))


def test_legal_hold_without_object_lock(store: ObjectStore) -> None:
    store.put("k/held", b"x")
    assert store.supports_object_lock() is False
    assert store.set_legal_hold("k/held", True) is False
    with pytest.raises(ObjectNotFound):
        store.set_legal_hold("k/missing", True)


def test_legal_hold_on_an_object_lock_bucket(lock_store: S3Store, s3: SeaweedFS) -> None:
    assert lock_store.supports_object_lock()
    assert lock_store.put("blobs/held", b"evidence")
    assert lock_store.set_legal_hold("blobs/held", True)
    assert lock_store.legal_hold("blobs/held")
    client = s3.client()
    version = client.head_object(Bucket=lock_store.bucket, Key="blobs/held")["VersionId"]
    with pytest.raises(client.exceptions.ClientError):
        client.delete_object(Bucket=lock_store.bucket, Key="blobs/held", VersionId=version)
    assert lock_store.get("blobs/held") == b"evidence"
    assert lock_store.set_legal_hold("blobs/held", False)
    assert not lock_store.legal_hold("blobs/held")
    with pytest.raises(ObjectNotFound):
        lock_store.set_legal_hold("blobs/missing", True)


def _delete_current_version(s3: SeaweedFS, st: S3Store, key: str) -> None:
    client = s3.client()
    version = client.head_object(Bucket=st.bucket, Key=st._full(key))["VersionId"]
    client.delete_object(Bucket=st.bucket, Key=st._full(key), VersionId=version)


def _days_from_now(when: datetime) -> float:
    return (when - datetime.now(UTC)).total_seconds() / 86400


def test_lock_configuration_is_detected(store: ObjectStore, lock_store: S3Store) -> None:
    assert store.lock_config() == LockConfig()
    assert lock_store.lock_config() == LockConfig(enabled=True)
    assert not lock_store.lock_config().has_default_retention


def test_bucket_default_retention_applies_to_blobs(s3: SeaweedFS,
                                                   tmp_settings: Callable[..., Settings]) -> None:
    bucket = s3.make_bucket(object_lock=True)
    s3.client().put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 2}}})
    st = open_store(tmp_settings(object_lock_retention_days=30, **s3.settings_overrides(bucket, "pre")))
    assert isinstance(st, S3Store)
    assert st.lock_config() == LockConfig(True, "GOVERNANCE", 2)
    _, key, created = st.put_blob(b"agency photo", "image/jpeg")
    assert created
    retained = st.retention(key)
    assert retained is not None and retained[0] == "GOVERNANCE"
    assert 1.9 < _days_from_now(retained[1]) <= 2.0   # the bucket's rule, not our setting
    with pytest.raises(ClientError):
        _delete_current_version(s3, st, key)
    assert st.get(key) == b"agency photo"


def test_retention_days_applied_when_the_bucket_has_no_rule(s3: SeaweedFS,
                                                            tmp_settings: Callable[..., Settings]) -> None:
    bucket = s3.make_bucket(object_lock=True)
    st = open_store(tmp_settings(object_lock_retention_days=3, **s3.settings_overrides(bucket)))
    assert isinstance(st, S3Store)
    _, key, _ = st.put_blob(b"evidence bytes", "image/png")
    retained = st.retention(key)
    assert retained is not None and retained[0] == "GOVERNANCE"
    assert 2.99 < _days_from_now(retained[1]) <= 3.0
    with pytest.raises(ClientError):
        _delete_current_version(s3, st, key)
    assert st.put_blob(b"evidence bytes", "image/png")[2] is False   # still stored once
    st.put("articles/a/v1", b"not evidence")
    assert st.retention("articles/a/v1") is None      # only originals are retained implicitly


def test_no_retention_when_off(lock_store: S3Store) -> None:
    _, key, _ = lock_store.put_blob(b"kept but not retained", "image/png")
    assert lock_store.retention_days == 0 and lock_store.retention(key) is None


def test_set_retention(lock_store: S3Store, store: ObjectStore, s3: SeaweedFS) -> None:
    until = datetime.now(UTC) + timedelta(days=1)
    lock_store.put("posts/x/manifest.json", b"{}")
    assert lock_store.set_retention("posts/x/manifest.json", until, mode="COMPLIANCE")
    mode, when = lock_store.retention("posts/x/manifest.json") or ("", None)
    assert mode == "COMPLIANCE" and when is not None and abs((when - until).total_seconds()) < 1
    with pytest.raises(ClientError):
        _delete_current_version(s3, lock_store, "posts/x/manifest.json")
    with pytest.raises(ObjectNotFound):
        lock_store.set_retention("posts/missing", until)
    store.put("k/kept", b"x")
    assert store.set_retention("k/kept", until) is False   # no Object Lock: nothing is promised
    with pytest.raises(ValueError):
        store.set_retention("k/kept", until.replace(tzinfo=None))
    with pytest.raises(ValueError):
        store.set_retention("k/kept", until, mode="FOREVER")


def test_local_store_layout_and_atomicity(tmp_path: Path) -> None:
    st = LocalStore(tmp_path / "objects", BASE)
    st.put("articles/a/source", b"body", content_type="text/html")
    assert (tmp_path / "objects" / "articles" / "a" / "source").read_bytes() == b"body"
    assert st.locate("articles/a/source") == str(tmp_path / "objects" / "articles" / "a" / "source")
    assert st.put("articles/a/source", b"again", if_none_match=True) is False
    assert list((tmp_path / "objects" / ".tmp").iterdir()) == []  # no temp files left behind
    assert list(st.list("")) == ["articles/a/source"]  # sidecars are not objects
    for reserved in (".meta/articles/a/source.json", ".tmp/x"):
        with pytest.raises(ValueError):
            st.put(reserved, b"x")
    with pytest.raises(ValueError):
        list(st.list(".meta/articles"))
    with pytest.raises(ValueError, match="conflicts"):
        st.put("articles/a/source/child", b"x")
    with pytest.raises(ValueError, match="conflicts"):
        st.put("articles/a", b"x", if_none_match=True)
    with pytest.raises(ValueError, match="conflicts"):
        st.put("articles/a", b"x")
    assert st.describe() == (tmp_path / "objects").resolve().as_uri()


def test_local_put_is_one_file_unless_the_sidecar_says_more(tmp_path: Path) -> None:
    """A put whose content type the key's name or the object's magic number implies, with no metadata,
    writes the object alone; head answers the same either way, and a later put that needs no sidecar
    drops the stale one."""
    root = tmp_path / "objects"
    st = LocalStore(root, BASE)
    jpeg = b"\xff\xd8\xff\xe0" + bytes(60)
    sha = hashlib.sha256(jpeg).hexdigest()
    st.put_blob(jpeg, "image/jpeg")
    st.put("derived/x/thumb.webp", b"RIFF....WEBP", content_type="image/webp", if_none_match=True)
    st.put("posts/p/1/c.json", b"{}", content_type="application/json")
    st.put("plain", b"just bytes")
    assert not (root / ".meta").exists()
    assert st.head(blob_key(sha)).content_type == "image/jpeg"
    assert st.head("derived/x/thumb.webp").content_type == "image/webp"
    assert (st.head("posts/p/1/c.json").content_type, st.head("plain").content_type) == (
        "application/json", "application/octet-stream")
    # What the key and bytes do not say goes to the sidecar.
    st.put("articles/a/v1", b"<html>", content_type="text/html; charset=utf-8")
    st.put("t/0.tsr", b"\x30\x82", content_type="application/timestamp-reply", metadata={"tsa": "abc"})
    assert st.head("articles/a/v1").content_type == "text/html; charset=utf-8"
    assert (st.head("t/0.tsr").content_type, st.head("t/0.tsr").metadata) == ("application/timestamp-reply",
                                                                                {"tsa": "abc"})
    st.put("articles/a/v1", b"no longer html")
    assert st.head("articles/a/v1").content_type == "application/octet-stream"
    assert not (root / ".meta" / "articles" / "a" / "v1.json").exists()
    # A conditional put that finds the key writes nothing, not even a temp file.
    assert st.put_blob(jpeg, "image/jpeg") == (sha, blob_key(sha), False)
    assert list((root / ".tmp").iterdir()) == []


def test_local_store_reads_the_layout_with_a_sidecar_for_every_object(tmp_path: Path) -> None:
    """Stores written before (every object with its .meta sidecar) answer head as they did."""
    root = tmp_path / "objects"
    (root / "blobs" / "sha256" / "ab").mkdir(parents=True)
    (root / "blobs" / "sha256" / "ab" / "abc").write_bytes(b"\xff\xd8\xff\xe0 a jpeg")
    (root / ".meta" / "blobs" / "sha256" / "ab").mkdir(parents=True)
    (root / ".meta" / "blobs" / "sha256" / "ab" / "abc.json").write_text(
        '{"content_type": "application/octet-stream", "metadata": {"source-sha256": "ff"}}')
    info = LocalStore(root, BASE).head("blobs/sha256/ab/abc")
    assert (info.size, info.content_type, info.metadata) == (11, "application/octet-stream", {"source-sha256": "ff"})


def test_unreachable_s3_is_a_clear_error(tmp_settings: Callable[..., Settings]) -> None:
    st = open_store(tmp_settings(storage="s3://bucket/p", s3_endpoint_url=f"http://127.0.0.1:{free_port()}",
                                 s3_access_key="k", s3_secret_key="s"))
    assert "s3://bucket/p @ http://127.0.0.1:" in st.describe()
    with pytest.raises(StoreError, match="cannot write"):
        st.put("a/b", b"x")
    with pytest.raises(StoreError):
        st.get("a/b")


@pytest.mark.parametrize("url", [
    "ftp://x/y", "file://host/dir", "file:relative/dir", "s3://", "s3://Bad_Bucket/p", "s3://bucket/a/../b",
    "s3://bucket/p?x=1", "objects",
])
def test_malformed_storage_urls(url: str, tmp_settings: Callable[..., Settings]) -> None:
    with pytest.raises(ConfigError):
        open_store(tmp_settings(storage=url))


def test_half_credentials_are_refused(tmp_settings: Callable[..., Settings]) -> None:
    with pytest.raises(ConfigError, match="both"):
        open_store(tmp_settings(storage="s3://bucket", s3_access_key="only-key"))


def test_default_storage_is_home_objects(tmp_settings: Callable[..., Settings], tmp_path: Path) -> None:
    st = open_store(tmp_settings())
    assert isinstance(st, LocalStore)
    st.put("a/b", b"x")
    assert (tmp_path / "objects" / "a" / "b").read_bytes() == b"x"


@pytest.mark.parametrize("bad", ["", "ab", "A" * 64, "g" * 64, "a" * 63, None])
def test_blob_key_wants_a_sha256_hex(bad: object) -> None:
    with pytest.raises(ValueError):
        blob_key(bad)  # type: ignore[arg-type]


def test_ensure_bucket_creates_once(s3: SeaweedFS, tmp_settings: Callable[..., Settings]) -> None:
    st = open_store(tmp_settings(**s3.settings_overrides("ensure-me-bucket")))
    assert isinstance(st, S3Store)
    assert st.ensure_bucket() is True
    assert st.ensure_bucket() is False
    assert st.put("x", b"1")
