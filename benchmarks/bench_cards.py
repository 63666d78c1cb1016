"""Milliseconds per PNG card (``draw_card``) for typical posts: Latin, Hindi, Arabic (with Latin, digits
and an emoji inside), a long mixed post, and the Latin post with one photo thumbnail.

Every timed card has different text: each card of a case shuffles the words of the case's text (each
part of the long post on its own, so scripts stay in their runs) with its own seed, so no card repeats
an earlier one and a cache of whole cards or lines would not help; what stays the same from card to
card is what a real run shares too (fonts, glyphs, the photo). The content is made before timing
(``card_content``); what is timed is the drawing and PNG encoding of one card, fonts already loaded (the
first card of a process also loads its fonts and meets every glyph for the first time: printed as
``cold``). The photo case decodes a 1200x800 JPEG into a 552 px thumbnail, which is image work rather
than text. Target (issue 18): at most 5 ms per card for a typical post.

    .venv/bin/python benchmarks/bench_cards.py [--repeat 40] [--out DIR]

To time another checkout, copy this file into its benchmarks/ folder and run it there (it imports
the checkout it sits in). ``--out DIR`` writes each case's PNG, to look at or compare pixel by pixel.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archiver.capture.cards.content import card_content  # noqa: E402
from archiver.capture.cards.png_card import draw_card  # noqa: E402
from archiver.capture.manifest import Manifest  # noqa: E402
from archiver.storage.layout import blob_key  # noqa: E402
from archiver.storage.local import LocalStore  # noqa: E402

LATIN = ("Foreign ministers met in Tianjin on Tuesday to discuss trade, border talks and the next summit; "
         "officials said a joint statement would follow later this week. Full story: https://example.com/news/1")
HINDI = ("विदेश मंत्री डॉ. एस. जयशंकर ने तियानजिन में रूस के विदेश मंत्री सर्गेई लावरोव से मुलाकात की और "
         "द्विपक्षीय संबंधों, व्यापार तथा क्षेत्रीय सुरक्षा पर विस्तार से चर्चा की। बैठक के बाद संयुक्त बयान जारी होगा।")
ARABIC = ("وزير الخارجية الروسي يلتقي نظيره الهندي في تيانجين لبحث العلاقات الثنائية والتجارة، "
          "وقال المسؤولون إن بياناً مشتركاً سيصدر يوم 15 يوليو 2025 عبر SCO Summit 🎉 والمزيد على الموقع")
CJK_EMOJI = "天津で日印外相が会談した 서울에서도 보도 Snow day 🎉❄️👨‍👩‍👧 🇮🇳"
LONG_PARTS = (LATIN, HINDI, ARABIC, CJK_EMOJI, LATIN, LATIN)
LONG = " ".join(LONG_PARTS)
T0 = datetime(2025, 7, 15, 9, 12, 33, tzinfo=UTC)


def manifest(text: str, lang: str, media: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A captured tweet's manifest holding ``text`` (and ``media``)."""
    m = Manifest.new(provider="twitter", post_id="1945048830047662087", capture_id="20250715T091233Z-0123abcd",
                     captured_at=T0, status="archived",
                     url="https://twitter.com/ANI/status/1945048830047662087").to_json()
    m.update(text=text, text_expanded=text, lang=lang, created_at="2025-07-15T09:00:00.000Z", media=media or [])
    m["author"].update(name="ANI News", handle="ANI")
    m["attribution"]["shown"] = "— ANI (@ANI) July 15, 2025"
    return m


def photo(store: LocalStore) -> dict[str, Any]:
    """A 1200x800 photo-like JPEG stored as an original, as a manifest Media entry."""
    size = (1200, 800)
    im = Image.merge("RGB", (Image.linear_gradient("L").resize(size), Image.radial_gradient("L").resize(size),
                             Image.linear_gradient("L").rotate(90).resize(size)))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    data = buf.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    store.put(blob_key(sha), data)
    return {"type": "photo", "status": "archived", "sha256": sha, "key": blob_key(sha), "mime": "image/jpeg",
            "bytes": len(data), "width": size[0], "height": size[1], "duration": None,
            "original_url": "https://pbs.twimg.com/media/AbC?format=jpg&name=orig", "alt_text": None}


def shuffled(parts: tuple[str, ...], seed: int) -> str:
    """``parts`` joined by spaces, the words of each part shuffled by ``seed`` (seed 0: as written)."""
    if seed == 0:
        return " ".join(parts)
    rng = random.Random(seed)
    out = []
    for part in parts:
        words = part.split()
        rng.shuffle(words)
        out.append(" ".join(words))
    return " ".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=40,
                    help="cards timed per case (after the cold one), each with its own text")
    ap.add_argument("--out", type=Path, help="write each case's PNG into this folder")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = LocalStore(Path(tmp) / "objects", "http://127.0.0.1:1/media")
        photo_media = [photo(store)]
        cases: dict[str, tuple[tuple[str, ...], str, list[dict[str, Any]] | None]] = {
            "latin": ((LATIN,), "en", None),
            "hindi": ((HINDI,), "hi", None),
            "arabic": ((ARABIC,), "ar", None),
            "long": (LONG_PARTS, "en", None),
            "latin+photo": ((LATIN,), "en", photo_media),
        }
        print(f"{'case':<12} {'chars':>5} {'cold ms':>8} {'median ms':>10} {'min ms':>7} {'bytes':>7}")
        for name, (parts, lang, media) in cases.items():
            # Card 0 is the text as written (the cold card, and the PNG written by --out); each timed card
            # shuffles it with its own seed.
            contents = [card_content(manifest(shuffled(parts, seed), lang, media), store)
                        for seed in range(args.repeat + 1)]
            t = time.perf_counter()
            png = draw_card(contents[0], store)
            cold = (time.perf_counter() - t) * 1000
            times = []
            for content in contents[1:]:
                t = time.perf_counter()
                draw_card(content, store)
                times.append((time.perf_counter() - t) * 1000)
            chars = len(" ".join(parts))
            print(f"{name:<12} {chars:>5} {cold:>8.1f} {statistics.median(times):>10.2f} {min(times):>7.2f} "
                  f"{len(png):>7}")
            if args.out:
                args.out.mkdir(parents=True, exist_ok=True)
                (args.out / f"{name}.png").write_bytes(png)


if __name__ == "__main__":
    main()
