"""Extraction speed and memory: the linear scanner against a BeautifulSoup(html.parser) find_all
implementation of the same search, on a 200 KB article with 20 embeds and 50 images.

Run: .venv/bin/python benchmarks/bench_extract.py   (prints MB/s for both and peak memory)
Targets: at least 10x the BeautifulSoup throughput; peak memory under 5x the article plus a constant.
"""

from __future__ import annotations

import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bs4 import BeautifulSoup

from archiver.discover.scan import discover
from archiver.discover.urls import match_post_url

TWEET = ('<blockquote class="twitter-tweet"><p lang="en" dir="ltr">Post number {n} about the lake '
         '<a href="https://t.co/Rv7sKq2LpZ">pic.twitter.com/Rv7sKq2LpZ</a></p>&mdash; Pinecrest Observer '
         '(@PinecrestObs) <a href="https://twitter.com/PinecrestObs/status/17649275784691{n:05d}?ref_src=twsrc'
         '%5Etfw">March 5, 2024</a></blockquote> <script async src="https://platform.twitter.com/widgets.js" '
         'charset="utf-8"></script>\n')
YOUTUBE = ('<iframe width="560" height="315" src="https://www.youtube.com/embed/Tq2wE9rY4u{c}" '
           'allowfullscreen></iframe>\n')
IMAGE = ('<figure class="wp-block-image"><img src="/media/2024/03/photo-{n}.jpg" '
         'srcset="/media/2024/03/photo-{n}-480.jpg 480w, /media/2024/03/photo-{n}-960.jpg 960w" '
         'alt="Photo {n} (Jo Rivera / Pinecrest Observer)" loading="lazy">'
         '<figcaption>Caption {n}</figcaption></figure>\n')
PROSE = ('<p class="body">The ice went out on Lake Mont early this year, and <a href="/news/{n}">officials</a> '
         'said the <em>shanties</em> must come off by Sunday. <span class="note">Residents were asked</span> '
         'to keep clear of the shoreline.</p>\n<div class="ad-slot" data-slot="{n}"><div></div></div>\n')


def make_article(size: int = 200_000, embeds: int = 20, images: int = 50) -> str:
    parts = ['<!doctype html><html><head><meta property="og:image" content="https://cdn.example/og.jpg">'
             '</head><body><article>\n']
    items = [TWEET.format(n=i) if i % 2 else YOUTUBE.format(c="ABCDEFGHIJ"[i % 10]) for i in range(embeds)]
    items += [IMAGE.format(n=i) for i in range(images)]
    filler_needed = size - sum(map(len, items)) - 200
    prose = []
    n = 0
    while sum(map(len, prose)) < filler_needed:
        prose.append(PROSE.format(n=n))
        n += 1
    step = max(1, len(prose) // len(items))
    for i, item in enumerate(items):
        parts.extend(prose[i * step:(i + 1) * step])
        parts.append(item)
    parts.extend(prose[len(items) * step:])
    parts.append("</article></body></html>\n")
    return "".join(parts)


def bs4_extract(text: str) -> tuple[int, int]:
    """The straightforward implementation: parse a tree, find_all the same constructs."""
    soup = BeautifulSoup(text, "html.parser")
    embeds = 0
    for bq in soup.find_all("blockquote", class_=["twitter-tweet", "twitter-video", "instagram-media",
                                                  "tiktok-embed", "bluesky-embed", "reddit-embed-bq"]):
        links = [a.get("href", "") for a in bq.find_all("a")]
        if any(match_post_url(h) for h in links):
            embeds += 1
    for iframe in soup.find_all("iframe"):
        if match_post_url(iframe.get("src") or iframe.get("data-src") or ""):
            embeds += 1
    images = 0
    for img in soup.find_all(["img", "amp-img"]):
        images += 1 if img.get("src") else 0
        images += len([c for c in (img.get("srcset") or "").split(",") if c.strip()])
    for source in soup.find_all("source"):
        images += len([c for c in (source.get("srcset") or "").split(",") if c.strip()])
    for meta in soup.find_all("meta"):
        if (meta.get("property") or meta.get("name")) in ("og:image", "twitter:image"):
            images += 1
    return embeds, images


def throughput(fn, text: str, min_seconds: float = 1.0) -> float:
    runs, t0 = 0, time.perf_counter()
    while True:
        fn(text)
        runs += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= min_seconds:
            return len(text.encode("utf-8")) * runs / elapsed / 1e6


def main() -> None:
    text = make_article()
    size = len(text.encode("utf-8"))
    found = discover(text)
    print(f"article: {size / 1000:.0f} KB, {len(found.embeds)} embeds, {len(found.images)} images "
          f"(bs4 finds {bs4_extract(text)})")
    ours = throughput(discover, text)
    theirs = throughput(bs4_extract, text)
    print(f"archiver scanner:            {ours:8.1f} MB/s")
    print(f"BeautifulSoup(html.parser):  {theirs:8.1f} MB/s")
    print(f"speed-up: {ours / theirs:.1f}x (target >= 10x)")
    tracemalloc.start()
    discover(text)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"peak memory: {peak / 1e6:.2f} MB = {peak / size:.2f}x the article (target < 5x + constant)")


if __name__ == "__main__":
    main()
