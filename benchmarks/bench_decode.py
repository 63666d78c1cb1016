"""Decoding time of hostile and unusual articles, in seconds a megabyte, by declared encoding.

Each page declares its encoding in a <meta> and is then about one megabyte of bytes that encoding
does not decode (0xFF; a lead byte before a space), or of characters a Python codec leaves to a
handler (gbk's 0x80, EUC-JP's NEC row 13), or of ordinary text with one pair a codec writes back
otherwise (the token scan). It prints, per page, the wall time of ``decode_article`` (median of
``--runs``) and what came of it (the codec, or the start of the refusal). ``--root DIR`` times
another checkout (an older commit, for before/after figures in one run each).

    .venv/bin/python benchmarks/bench_decode.py [--runs 3] [--mb 1] [--root DIR]

The aim: time linear in the bytes whatever they hold, at most about a second a megabyte on a slow
two-core machine, so that the 25 MB article limit bounds the time too.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from treeroot import tree_root

sys.path.insert(0, str(tree_root()))

from archiver.article.decode import decode_article
from archiver.errors import InputError


def pages(size: int) -> list[tuple[str, bytes]]:
    """(name, page) pairs of about `size` bytes each."""
    half = size // 2
    japanese = "日本語のニュース。".encode("cp932")
    body = [
        ("utf-8", "0xFF", b"\xff" * size),
        ("utf-8", "lead, space", b"\xc3 " * half),
        ("windows-1253", "0xFF", b"\xff" * size),
        ("shift_jis", "0xA0 (no character)", b"\xa0" * size),
        ("shift_jis", "lead, space", b"\x85 " * half),
        ("shift_jis", "text + one NEC pair", japanese * (size // len(japanese)) + b"\x87\x90"),
        ("euc-jp", "0xFF", b"\xff" * size),
        ("euc-jp", "NEC row 13 (characters)", b"\xad\xa1" * half),
        ("euc-kr", "lead, space", b"\xff " * half),
        ("big5", "lead, space", b"\x81 " * half),
        ("gbk", "0x80 (euro signs)", b"\x80" * size),
    ]
    return [(f"{label:13} {what}", f'<meta charset="{label}"><p>'.encode() + data + b"</p>")
            for label, what, data in body]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mb", type=float, default=1.0, help="size of each page in megabytes")
    ap.add_argument("--root", help="the archiver tree to time (default: this one)")
    args = ap.parse_args()
    size = int(args.mb * 1_000_000)
    print(f"tree {tree_root()}; pages of {size:,} bytes; median of {args.runs}")
    for name, page in pages(size):
        times, outcome = [], ""
        for _ in range(args.runs):
            start = time.perf_counter()
            try:
                outcome = decode_article(page).encoding
            except InputError as exc:
                outcome = "refused: " + str(exc)[:60]
            times.append(time.perf_counter() - start)
        per_mb = statistics.median(times) / (len(page) / 1_000_000)
        print(f"{name:40} {per_mb:7.3f} s/MB  {outcome}")


if __name__ == "__main__":
    main()
