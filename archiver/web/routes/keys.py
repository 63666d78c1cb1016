"""The archive's public evidence-signing key at a well-known URL, with no sign-in: what a compliance
officer or a court compares a bundle's signature against (`archiver verify --public-key`).

``GET /.well-known/archiver-signing-key.pem`` answers the PEM SubjectPublicKeyInfo of the key at
``<home>/keys/evidence-signing-key.pem`` (archiver/compliance/signing.py), with its fingerprint
(``sha256:<hex>`` of the DER key) in ``X-Key-Fingerprint``; 404 when the archive has no key. The
private key never leaves the file.

``GET /.well-known/archiver-signing-keys.json`` lists every key the archive has signed with, so a bundle
signed before a rotation (`archiver keys create --force`) still has its key published:
``{"keys": [{"fingerprint", "status": "current"|"retired", "valid_from", "valid_until", "public_key_pem"}]}``,
the current key first, then the retired ones latest first (archiver.compliance.signing.all_keys); a
retired file that is not a key is left out. ``{"keys": []}`` when there is none.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import JSONResponse, Response

from archiver.compliance.signing import all_keys, key_path, load_private_key, public_info
from archiver.config.settings import Settings
from archiver.errors import ConfigError
from archiver.web.deps import get_settings
from archiver.web.errors import COMMON, error_responses

router = APIRouter()
WELL_KNOWN_PATH = "/.well-known/archiver-signing-key.pem"
WELL_KNOWN_ALL_PATH = "/.well-known/archiver-signing-keys.json"
PEM_TYPE = "application/x-pem-file"


@router.get(WELL_KNOWN_PATH, tags=["public"], response_class=Response,
            responses={200: {"description": "the public key (PEM) that signs this archive's evidence bundles",
                             "content": {PEM_TYPE: {"schema": {"type": "string"}}},
                             "headers": {"X-Key-Fingerprint": {"description": "sha256:<hex> of the DER key",
                                                               "schema": {"type": "string"}}}},
                       **error_responses(404, *COMMON)})
def signing_key(settings: Annotated[Settings, Depends(get_settings)]) -> Response:
    """The public half of the evidence signing key; 404 when there is none (`archiver keys create`)."""
    try:
        key = load_private_key(key_path(settings.home_path))
    except ConfigError:
        raise HTTPException(status_code=500, detail="the signing key cannot be read") from None
    if key is None:
        raise HTTPException(status_code=404, detail="this archive has no signing key")
    info = public_info(key.public_key())
    return Response(info.pem, media_type=PEM_TYPE,
                    headers={"X-Key-Fingerprint": info.fingerprint, "Cache-Control": "no-cache",
                             "X-Content-Type-Options": "nosniff"})


_KEY_SCHEMA = {"type": "object", "required": ["fingerprint", "status", "valid_from", "valid_until", "public_key_pem"],
               "properties": {"fingerprint": {"type": "string", "description": "sha256:<hex> of the DER key"},
                              "status": {"type": "string", "enum": ["current", "retired"]},
                              "valid_from": {"type": ["string", "null"], "description": "ISO 8601 UTC"},
                              "valid_until": {"type": ["string", "null"],
                                              "description": "ISO 8601 UTC; null for the current key"},
                              "public_key_pem": {"type": "string"}}}


@router.get(WELL_KNOWN_ALL_PATH, tags=["public"],
            responses={200: {"description": "every public key that has signed this archive's evidence bundles, "
                                            "the current one first, with when each was in use",
                             "content": {"application/json": {"schema": {
                                 "type": "object", "required": ["keys"],
                                 "properties": {"keys": {"type": "array", "items": _KEY_SCHEMA}}}}}},
                       **error_responses(*COMMON)})
def signing_keys(settings: Annotated[Settings, Depends(get_settings)]) -> JSONResponse:
    """The current and the retired evidence signing keys (public halves, with validity)."""
    keys, _problems = all_keys(settings.home_path)
    return JSONResponse({"keys": [k.as_json() for k in keys]},
                        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})
