"""The manifest model and its JSON Schema: the checked-in schema is what the model generates, and
manifests stored in version 1's shape still validate and are read back unchanged.

tests/fixtures/manifests/ holds manifests written by the code before the manifest became a model
(Twitter with a quoted post, the quoted post itself, a tombstone, an unresolved flattened embed,
YouTube with a thumbnail, a markup-only Instagram post), as they were stored.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from archiver.capture.manifest import (
    EMBED_STATUSES,
    Manifest,
    ManifestError,
    checked_in_schema,
    load_manifest,
    manifest_schema,
    schema_text,
    validate_manifest,
)

STORED = sorted((Path(__file__).parent / "fixtures" / "manifests").glob("*.json"))


def test_checked_in_schema_is_what_the_model_generates() -> None:
    assert checked_in_schema() == schema_text(), (
        "archiver/schemas/manifest.v1.json is stale: run `python -m archiver.capture.manifest --write`")
    on_disk = Path(__file__).parent.parent / "archiver" / "schemas" / "manifest.v1.json"
    assert on_disk.read_text(encoding="utf-8") == schema_text()


def test_the_schema_command_prints_it() -> None:
    out = subprocess.run([sys.executable, "-m", "archiver.capture.manifest", "--schema"], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    assert out == schema_text()


def test_schema_keeps_version_1s_rules() -> None:
    schema = manifest_schema()
    assert schema["$id"].endswith("/manifest.v1.json") and schema["additionalProperties"] is False
    assert schema["properties"]["schema"]["const"] == "archiver.manifest.v1"
    assert set(schema["properties"]["status"]["enum"]) == set(EMBED_STATUSES)
    assert set(schema["required"]) == {
        "schema", "archiver_version", "capture_id", "captured_at", "provider", "post_id", "status", "url", "author",
        "created_at", "text", "text_expanded", "lang", "media", "quoted", "parent", "attribution", "articles",
        "sources", "warc"}
    assert set(schema["$defs"]["Media"]["required"]) == {
        "type", "status", "sha256", "mime", "bytes", "width", "height", "duration", "original_url", "alt_text"}


@pytest.mark.parametrize("path", STORED, ids=[p.stem for p in STORED])
def test_stored_manifests_validate_and_read_back_unchanged(path: Path) -> None:
    raw = path.read_bytes()
    m = load_manifest(raw)
    assert isinstance(m, Manifest) and m.schema_ == "archiver.manifest.v1"
    # Optional fields a capture did not set stay absent: the same bytes come back.
    assert m.dumps() == raw


@pytest.mark.parametrize("path", STORED, ids=[p.stem for p in STORED])
def test_stored_manifests_satisfy_the_checked_in_schema(path: Path) -> None:
    schema = json.loads(checked_in_schema())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(json.loads(path.read_bytes()))) == []


def _stored(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((Path(__file__).parent / "fixtures" / "manifests" / name).read_bytes())
    return data


@pytest.mark.parametrize(("breakage", "where"), [
    (lambda m: m["media"][0].update(sha256="ABC"), "media/0/sha256"),
    (lambda m: m["media"][0].update(bytes=-1), "media/0/bytes"),
    (lambda m: m["media"][0].update(width="320"), "media/0/width"),
    (lambda m: m["quoted"].update(capture_id="not-an-id"), "quoted/capture_id"),
    (lambda m: m["sources"][1].update(fetched_at="yesterday"), "sources/1/fetched_at"),
    (lambda m: m["sources"][1].pop("outcome"), "sources/1/outcome"),
    (lambda m: m["author"].update(verified="yes"), "author/verified"),
    (lambda m: m.update(provider="Twitter"), "provider"),
    (lambda m: m.update(post_id=""), "post_id"),
    (lambda m: m["edit"].pop("is_latest"), "edit/is_latest"),
])
def test_a_broken_stored_manifest_is_a_clear_error(breakage: Any, where: str) -> None:
    m = _stored("twitter-video-quoting.json")
    breakage(m)
    with pytest.raises(ManifestError, match=f"manifest invalid at {where}:"):
        validate_manifest(m)


def test_not_json_is_a_manifest_error() -> None:
    with pytest.raises(ManifestError):
        load_manifest(b"{not json")
