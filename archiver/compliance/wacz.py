"""Writing a WACZ 1.1.1 package (https://specs.webrecorder.net/wacz/1.1.1/) with the `wacz` and `warcio`
packages: the formats (CDXJ index, pages list, datapackage) are theirs, not written by hand here.

A package is built in a working directory, then zipped:

- ``archive/<name>.warc.gz``: WARC files added as they are (`add_warc`), and ``archive/files.warc.gz``,
  a WARC 1.1 file of ``resource`` records (`add_resource`), one per other file, each at the URL that
  replays it, with SHA-256 block and payload digests (``sha256:<base32>``, as WARC 1.1 labels them);
- ``indexes/index.cdx.gz`` and ``indexes/index.idx``: the compressed CDXJ index of every WARC, made by
  wacz's WACZIndexer (cdxj-indexer);
- ``pages/pages.jsonl``: the entry pages (`add_page`), serialized by wacz;
- ``docs/<name>``: files about the package itself (`add_doc`: its README, what was exported);
  the WACZ spec allows other directories listed in the datapackage, and py-wacz's validator
  accepts files two levels deep only, so these are not at the root;
- ``datapackage.json`` (wacz's generate_datapackage: every file's path, size and ``sha256:`` hash)
  and ``datapackage-digest.json`` (its hash and, with a signer, ``signedData``; archiver/compliance/signing.py).

ZIP modes follow the spec: WARCs and the compressed index STORE'd, the rest DEFLATE'd.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import shutil
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any

from wacz.util import WACZ_VERSION

from archiver import __version__

__all__ = ["FILES_WARC", "WACZ_MEDIA_TYPE", "WACZ_VERSION", "Page", "WaczBuilder", "sha256_label", "warc_date"]

FILES_WARC = "files.warc.gz"
INDEX_LINES = 1024  # CDXJ lines per compressed block (py-wacz's default, archiveweb.page's size)
WACZ_MEDIA_TYPE = "application/wacz+zip"
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")

# signer(hash of datapackage.json as "sha256:<hex>", datapackage.json's "created") -> signedData
Signer = Callable[[str, str], dict[str, Any]]


def sha256_label(data: bytes) -> str:
    """A WARC 1.1 labelled digest: ``sha256:<BASE32 of the SHA-256>``."""
    return "sha256:" + base64.b32encode(hashlib.sha256(data).digest()).decode("ascii")


def warc_date(iso: str) -> str:
    """An RFC 3339 instant cut to whole seconds in UTC (``YYYY-MM-DDTHH:MM:SSZ``): what WARC-Date and
    the pages' ``ts`` share, so a page finds its record at the same 14-digit timestamp. ValueError for
    anything that is not an ISO 8601 UTC instant."""
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.\d{1,9})?(?:Z|\+00:00)", iso or "")
    if not m:
        raise ValueError(f"not a UTC instant: {str(iso)[:40]!r}")
    return m.group(1) + "Z"


@dataclass
class Page:
    """One entry of pages/pages.jsonl: the URL of a record in the package and its WARC-Date."""

    url: str
    ts: str
    title: str
    text: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class WaczBuilder:
    """Collects the parts of one package in `workdir` (which it fills; the caller removes it) and writes
    the package with `write`. Not thread-safe; one package per builder."""

    def __init__(self, workdir: Path, *, software: str | None = None) -> None:
        from warcio.warcwriter import WARCWriter

        self.workdir = workdir
        (workdir / "archive").mkdir(parents=True, exist_ok=True)
        (workdir / "docs").mkdir(exist_ok=True)
        self.warcs: list[Path] = []
        self.docs: list[Path] = []
        self.pages: list[Page] = []
        self._names: set[str] = {FILES_WARC.lower()}
        self._files_path = workdir / "archive" / FILES_WARC
        self._files_fh = open(self._files_path, "wb")  # noqa: SIM115 - closed by write()
        self._writer = WARCWriter(self._files_fh, gzip=True, warc_version="1.1")
        info = {"software": software or f"archiver/{__version__}", "format": "WARC File Format 1.1",
                "description": "archiver evidence bundle: every stored file of the exported captures that is "
                               "not itself a WARC, as a resource record at the URL it is served at"}
        self._writer.write_record(self._writer.create_warcinfo_record(FILES_WARC, info))
        self.resources = 0

    def unique_name(self, wanted: str, suffix: str) -> str:
        """`wanted` made safe for a file name in the package (letters, digits, ``._-``) and unique
        within it ignoring case (the datapackage names resources by their lowercased base name)."""
        base = re.sub(r"[^A-Za-z0-9._-]", "_", wanted)[:180].strip("._-") or "file"
        name, n = f"{base}{suffix}", 1
        while name.lower() in self._names:
            n += 1
            name = f"{base}-{n}{suffix}"
        self._names.add(name.lower())
        return name

    def add_warc(self, name: str, data: bytes) -> str:
        """Add a WARC file as it is under ``archive/`` (`name` made unique, ending .warc.gz); returns its path
        in the package."""
        stem = name.removesuffix(".warc.gz")
        final = self.unique_name(stem, ".warc.gz")
        path = self.workdir / "archive" / final
        path.write_bytes(data)
        self.warcs.append(path)
        return f"archive/{final}"

    def add_resource(self, url: str, data: bytes, content_type: str, date: str,
                     headers: dict[str, str] | None = None) -> str:
        """Append a ``resource`` record of `data` at `url` (its WARC-Target-URI) dated `date` (ISO 8601 UTC)
        to ``archive/files.warc.gz``; returns that path."""
        rec_headers = {"WARC-Date": warc_date(date), "WARC-Block-Digest": sha256_label(data),
                       "WARC-Payload-Digest": sha256_label(data), **(headers or {})}
        record = self._writer.create_warc_record(url, "resource", payload=io.BytesIO(data), length=len(data),
                                                 warc_content_type=content_type, warc_headers_dict=rec_headers)
        self._writer.write_record(record)
        self.resources += 1
        return f"archive/{FILES_WARC}"

    def add_page(self, page: Page) -> None:
        """List `page` in pages/pages.jsonl (its url and ts must be a record's)."""
        self.pages.append(page)

    def add_doc(self, name: str, data: bytes) -> str:
        """Add a file about the package under ``docs/``; returns its path. ValueError for an unsafe name."""
        if not _NAME_RE.fullmatch(name) or ".." in name or name.lower() in self._names:
            raise ValueError(f"bad or repeated doc name {name!r}")
        self._names.add(name.lower())
        path = self.workdir / "docs" / name
        path.write_bytes(data)
        self.docs.append(path)
        return f"docs/{name}"

    def write(self, out: IO[bytes], *, title: str, description: str, main_page: Page | None = None,
              sign: Signer | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Index every WARC, then write the package to `out` (a seekable binary file: the datapackage
        hashes are read back from the zip as wacz does). Returns the datapackage.json document plus
        ``"digest"``: the datapackage-digest.json document."""
        from wacz.util import now
        from wacz.waczindexer import WACZIndexer

        self._files_fh.close()
        inputs = [str(p) for p in [*self.warcs, self._files_path]]
        with zipfile.ZipFile(out, "w", allowZip64=True) as zf:
            index_text = io.BytesIO()
            text_wrap = io.TextIOWrapper(index_text, "utf-8", write_through=True)
            with zf.open(zipfile.ZipInfo("indexes/index.cdx.gz", now()), "w", force_zip64=True) as data:
                indexer = WACZIndexer(text_wrap, inputs, sort=True, post_append=True, compress=data,
                                      lines=INDEX_LINES, digest_records=True, fields="referrer,req.http:cookie",
                                      data_out_name="index.cdx.gz", hash_type="sha256", main_url="",
                                      main_ts=None, detect_pages=False, passed_pages_dict={}, extract_text=False)
                indexer.process_all()
            info = zipfile.ZipInfo("indexes/index.idx", now())
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, index_text.getvalue())
            for path in inputs:
                member = zipfile.ZipInfo.from_file(path, "archive/" + Path(path).name)
                member.compress_type = zipfile.ZIP_STORED
                with open(path, "rb") as src, zf.open(member, "w", force_zip64=True) as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            has_text = any(p.text for p in self.pages)
            lines = indexer.serialize_json_pages(_page_lines(self.pages), id="pages", title=title,
                                                 has_text=has_text)
            indexer.write_page_list(zf, "pages/pages.jsonl", lines)
            for path in self.docs:
                zf.write(path, f"docs/{path.name}", compress_type=zipfile.ZIP_DEFLATED)
            res = SimpleNamespace(title=title, desc=description, date=None)
            package = json.loads(indexer.generate_datapackage(res, zf))
            package["software"] = f"archiver {__version__} ({package.get('software', 'py-wacz')})"
            if main_page is not None:
                package["mainPageURL"] = main_page.url
                package["mainPageDate"] = main_page.ts
            package.update(extra or {})
            package_bytes = json.dumps(package, indent=2, ensure_ascii=False).encode("utf-8")
            info = zipfile.ZipInfo("datapackage.json", now())
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, package_bytes)
            digest: dict[str, Any] = {"path": "datapackage.json",
                                      "hash": "sha256:" + hashlib.sha256(package_bytes).hexdigest()}
            if sign is not None:
                digest["signedData"] = sign(digest["hash"], package["created"])
            info = zipfile.ZipInfo("datapackage-digest.json", now())
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, json.dumps(digest, indent=2))
        return {**package, "digest": digest}


def _page_lines(pages: Iterable[Page]) -> Iterable[dict[str, Any]]:
    for p in pages:
        line: dict[str, Any] = {**p.extra, "url": p.url, "ts": warc_date(p.ts), "title": p.title}
        if p.text:
            line["text"] = p.text
        yield line

