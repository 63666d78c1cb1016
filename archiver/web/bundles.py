"""Evidence bundles as downloads: the one answer the API's export routes and the compliance pages'
Download buttons both give (they used to build it twice, and only one said "unsigned" in the name).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import IO, Any

from fastapi.responses import StreamingResponse

from archiver.auth import Principal
from archiver.compliance.evidence import export_bundle
from archiver.runtime import Runtime

BUNDLE_TYPE = "application/zip"
SPOOL_IN_MEMORY = 32 * 1024 * 1024  # bytes of a bundle kept in memory before it spills to a temporary file


def bundle_download(rt: Runtime, who: Principal, posts: list[tuple[str, str]], query: dict[str, Any] | None,
                    name: str, *, via: str) -> StreamingResponse:
    """The WACZ evidence bundle of `posts` (and of the search `query`, recorded in it) as a download:
    Content-Disposition attachment `name`, signed with the archive's key when it has one
    (X-Archiver-Signed-By: the key's fingerprint, or `unsigned`, and then the file name ends
    `-unsigned.wacz` so the file itself never passes for a signed one). The export is audit-logged
    under `who` with `via` ("api", "web"). Spooled to a temporary file, then streamed in 1 MiB chunks.
    Raises what export_bundle raises (PostNotFound, InputError, ConfigError)."""
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - closed by the stream
    try:
        summary = export_bundle(rt, who, posts, spool, query=query, via=via)
    except BaseException:
        spool.close()
        raise
    size = spool.tell()
    spool.seek(0)

    def chunks() -> Iterator[bytes]:
        with spool:
            yield from iter(lambda: spool.read(1 << 20), b"")

    if not summary["signed"]:
        name = name.removesuffix(".wacz") + "-unsigned.wacz"
    return StreamingResponse(chunks(), media_type=BUNDLE_TYPE, headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Content-Length": str(size),
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
        "X-Archiver-Signed-By": summary["signed"] or "unsigned"})
