"""The archive's public evidence-signing key at a well-known URL, with no sign-in: what a compliance
officer or a court compares a bundle's signature against (`archiver verify --public-key`).

``GET /.well-known/archiver-signing-key.pem`` answers the PEM SubjectPublicKeyInfo of the key at
``<home>/keys/evidence-signing-key.pem`` (archiver/compliance/signing.py), with its fingerprint
(``sha256:<hex>`` of the DER key) in ``X-Key-Fingerprint``; 404 when the archive has no key. The
private key never leaves the file.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import Response

from archiver.compliance.signing import key_path, load_private_key, public_info
from archiver.config.settings import Settings
from archiver.errors import ConfigError
from archiver.web.deps import get_settings
from archiver.web.errors import COMMON, error_responses

router = APIRouter()
WELL_KNOWN_PATH = "/.well-known/archiver-signing-key.pem"
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
