"""The manifest model and its JSON Schema: the checked-in version 2 schema is what the model generates,
manifests stored in version 1's shape still validate (against the model and the frozen version 1
schema) and are read back unchanged, and a version 1 document cannot claim version 2's additions.

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

V1_SCHEMA = Path(__file__).parent.parent / "archiver" / "schemas" / "manifest.v1.json"
STORED = sorted((Path(__file__).parent / "fixtures" / "manifests").glob("*.json"))


def test_checked_in_schema_is_what_the_model_generates() -> None:
    assert checked_in_schema() == schema_text(), (
        "archiver/schemas/manifest.v2.json is stale: run `python -m archiver.capture.manifest --write`")
    on_disk = Path(__file__).parent.parent / "archiver" / "schemas" / "manifest.v2.json"
    assert on_disk.read_text(encoding="utf-8") == schema_text()


def test_the_schema_command_prints_it() -> None:
    out = subprocess.run([sys.executable, "-m", "archiver.capture.manifest", "--schema"], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    assert out == schema_text()


def test_schema_keeps_version_1s_rules() -> None:
    schema = manifest_schema()
    assert schema["$id"].endswith("/manifest.v2.json") and schema["additionalProperties"] is False
    assert schema["properties"]["schema"] == {"const": "archiver.manifest.v2", "type": "string"}
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
def test_stored_manifests_satisfy_the_frozen_version_1_schema(path: Path) -> None:
    schema = json.loads(V1_SCHEMA.read_text(encoding="utf-8"))
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


def test_version_2_adds_to_version_1() -> None:
    """Everything version 1 required, version 2 requires; every field version 1 had, version 2 has."""
    v1, v2 = json.loads(V1_SCHEMA.read_text(encoding="utf-8")), manifest_schema()
    assert set(v1["required"]) <= set(v2["required"]) and set(v1["properties"]) <= set(v2["properties"])
    assert set(v1["properties"]["status"]["enum"]) < set(v2["properties"]["status"]["enum"])
    for name, part in v1["$defs"].items():
        assert set(part["properties"]) <= set(v2["$defs"][name]["properties"]), name


@pytest.mark.parametrize(("change", "message"), [
    ({"text_complete": False}, "text_complete is a version 2 field"),
    ({"missing": []}, "missing is a version 2 field"),
    ({"status": "suspended"}, "status 'suspended' is a version 2 status"),
])
def test_a_version_1_document_cannot_use_version_2s_additions(change: dict[str, Any], message: str) -> None:
    m = {**_stored("twitter-video-quoting.json"), **change}
    with pytest.raises(ManifestError, match=message):
        validate_manifest(m)
    # The same document as version 2 is fine.
    assert validate_manifest({**m, "schema": "archiver.manifest.v2"}).schema_ == "archiver.manifest.v2"


def test_new_manifests_are_version_2() -> None:
    from datetime import UTC, datetime
    m = Manifest.new(provider="twitter", post_id="1", capture_id="20250101T000000Z-0123abcd",
                     captured_at=datetime(2025, 1, 1, tzinfo=UTC), status="archived", url=None)
    assert m.to_json()["schema"] == "archiver.manifest.v2"
    schema = json.loads(checked_in_schema())
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(validate_manifest(m).to_json())) == []
