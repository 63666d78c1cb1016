"""`archiver demo`: the whole pipeline, offline, on a bundled Hindi/English article, or on yours.

A local fixture origin plays Twitter's oEmbed, syndication and t.co endpoints (and the other
platforms' oEmbed endpoints) and the newspaper's image host; the article is archived by the local
runner on the configured storage (by default a local directory + SQLite under ARCHIVER_HOME), and the
demo prints what it stored and what it changed in the article: for each embed, what its manifest
(schema v2) says (the status in plain words, whether the text is whole and which source gave it, the
counts with the time they were read, the edit chain, the size each medium was stored at, a link
card, a poll, missing parts).

The sample's post is a Hindi tweet by @ANI, so the README's examples (a search in Devanagari, an
export, a hold) have something to find. `archiver demo ARTICLE.html` archives an article of one's own
the same way: the fixture origin answers for the sample's tweet and for those given with `--tweets`
(a JSON list of TweetFixture fields); any other post is answered as the platform answers for a post
that does not exist, so its status says so (the demo notes which posts the origin did not know).
Its images are fetched from their own hosts.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from importlib import resources
from typing import Any

from archiver.article.decode import article_id_for
from archiver.article.input import ArticleInput
from archiver.capture.cards.content import missing_summary, status_note
from archiver.capture.manifest import STATUS_WORDS
from archiver.cli.kinds import shown
from archiver.cli.output import json_text, printable
from archiver.compliance.timestamps import load_record, missing_tsas
from archiver.config.settings import Settings
from archiver.errors import InputError
from archiver.runners.local import archive
from archiver.runtime import Runtime
from archiver.storage.layout import patch_key
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture

ARTICLE_ID = "demo-sco-jaishankar-lavrov"
DEMO_PORT = 38471
MAX_TWEETS_FILE = 1024 * 1024
MAX_TWEETS = 1000
TWEET_ID = "1945048830047662087"
IMAGE_PATH = (
    "/young-bharat-news/media/media_files/2025/07/15/"
    "external-affairs-minister-dr-s-jaishankar-and-russian-foreign-minister-sergei-lavrov-2025-07-15-15-40-12.jpg"
)


def demo_tweet() -> dict[str, Any]:
    """The demo's one tweet, in Hindi, as TweetFixture fields (id, handle, text, a 1200x800 photo...), for the
    fixture origin; the sample article's blockquote shows the same text."""
    return {
        "id": TWEET_ID,
        "handle": "ANI",
        "name": "ANI",
        "lang": "hi",
        "created_at": "2025-07-15T09:12:33.000Z",
        "text": (
            "रूस के विदेश मंत्री सर्गेई लावरोव और भारत के विदेश मंत्री डॉ. एस. जयशंकर ने चीन के तियानजिन में SCO "
            "विदेश मंत्रियों की परिषद की बैठक के मौके पर मुलाकात की\n\n(सोर्स: रूस का विदेश मंत्रालय)"
        ),
        "photos": [{"name": "Gw0ANIsco1.jpg", "width": 1200, "height": 800,
                    "alt": "Sergey Lavrov and Dr S Jaishankar shake hands in Tianjin"}],
        "media_code": "HA2sQBIEQc",
        # Merged into the syndication answer: the counts the platform shows.
        "extra": {"favorite_count": 1520, "conversation_count": 87},
    }


def load_tweets(path: str) -> list[TweetFixture]:
    """The tweets of a `--tweets` file: a JSON list (at most MAX_TWEETS) of objects with TweetFixture's
    fields (id, handle, name, text, lang, created_at, photos, ...). InputError (one line) for a file
    over MAX_TWEETS_FILE bytes, one that is not such a list, or an entry TweetFixture refuses."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_TWEETS_FILE + 1)
    except OSError as exc:
        raise InputError(f"--tweets {shown(path)}: {exc.strerror or exc}") from None
    if len(data) > MAX_TWEETS_FILE:
        raise InputError(f"--tweets {shown(path)} is over {MAX_TWEETS_FILE:,} bytes")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"--tweets {shown(path)} is not JSON: {shown(exc, 100)}") from None
    if not isinstance(doc, list) or len(doc) > MAX_TWEETS:
        raise InputError(f"--tweets {shown(path)}: expected a JSON list of at most {MAX_TWEETS} tweets")
    out = []
    for i, entry in enumerate(doc):
        if not isinstance(entry, dict):
            raise InputError(f"--tweets {shown(path)}: entry {i} is not an object")
        missing = [name for name in ("id", "handle", "name") if name not in entry]
        if missing:
            raise InputError(f"--tweets {shown(path)}: entry {i} has no {', '.join(missing)} (each tweet needs "
                             "id, handle and name)")
        unknown = sorted(set(entry) - {f.name for f in fields(TweetFixture)})
        if unknown:
            raise InputError(f"--tweets {shown(path)}: entry {i}: unknown field(s) {shown(', '.join(unknown), 120)}")
        try:
            out.append(TweetFixture(**entry))
        except (TypeError, ValueError) as exc:
            raise InputError(f"--tweets {shown(path)}: entry {i}: {shown(exc, 120)}") from None
    return out


def _read_article(path: str, limit: int) -> bytes:
    """The bytes of the article file at `path`; InputError when it is over `limit` bytes or unreadable."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise InputError(f"{shown(path)}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise InputError(f"{shown(path)} is over the limit of {limit:,} bytes (ARCHIVER_MAX_ARTICLE_BYTES)")
    return data


def run_demo(settings: Settings, *, as_json: bool = False, out: Any = None, article_path: str | None = None,
             tweets_path: str | None = None, base_url: str | None = None, article_id: str | None = None) -> int:
    """Archive the sample article (or the file at `article_path`) against a local fixture origin and write
    what happened to `out` (stdout): a readable account, or with `as_json` the archive report plus
    "stored", "changes", "storage" and "unknown_posts" (the twitter posts the origin did not know).

    The origin knows the sample's tweet and those of `tweets_path` (`load_tweets`). `base_url` is the
    URL the given article is published at (default: a page of the origin); `article_id` its id
    (default: a hash of its bytes). Returns the exit code (0). InputError for an unusable article or
    tweets file."""
    out = out or sys.stdout
    extra = load_tweets(tweets_path) if tweets_path else []
    if article_path is None:
        template = resources.files("archiver.samples").joinpath("demo-article.html").read_text(encoding="utf-8")
    else:
        given = _read_article(article_path, settings.max_article_bytes)
    fixtures = [TweetFixture(**demo_tweet()), *extra]
    known = {t.id for t in fixtures}
    # A fixed port when free, so the sample's bytes (and so its plan) are the same at every run.
    with FixtureOrigin(tweets=fixtures, images={IMAGE_PATH: _lead_image()}, port=DEMO_PORT) as origin:
        if article_path is None:
            article = template.replace("{ORIGIN}", origin.base_url).encode("utf-8")
            the_input = ArticleInput(article, base_url=origin.base_url + "/news/", url_trusted=True)
            the_id = ARTICLE_ID
        else:
            article = given
            # The operator named the URL on the command line: trusted for own-site limits, as `archive` does.
            the_input = ArticleInput(article, url=base_url, base_url=base_url or origin.base_url + "/news/",
                                     url_trusted=True)
            the_id = article_id or article_id_for(article)
        demo_settings = settings.replace(**origin.settings_overrides())
        with Runtime.from_settings(demo_settings) as rt:
            before = set(rt.store.list(""))
            rep = archive(rt, the_input, article_id=the_id)
            after = set(rt.store.list(""))
            patch = json.loads(rt.store.get(patch_key(the_id, rep["version"])))
            # The report's "snapshot" is each embed's manifest key.
            manifests = {e["snapshot"]: json.loads(rt.store.get(e["snapshot"])) for e in rep["embeds"] if e["snapshot"]}
            trusted = trusted_time_lines(rt, list(manifests))
    unknown = [e["post_id"] for e in rep["embeds"]
               if e["provider"] == "twitter" and e["post_id"] and e["post_id"] not in known]
    new_keys = sorted(after - before)
    if as_json:
        out.write(json_text({**rep, "stored": new_keys, "changes": patch["ops"], "unknown_posts": unknown,
                             "storage": demo_settings.storage_url}) + "\n")
        return 0

    def w(text: str) -> None:
        # Each line escaped (names, texts and URLs come from the article and the origin's answers: a
        # terminal escape in them is shown, not obeyed).
        out.write("\n".join(printable(line, 100_000) for line in text.split("\n")))

    w(f"archiver demo: archived article {rep['article_id']} into {demo_settings.storage_url}\n\n")
    tail = ":\n" if new_keys else " (everything was already archived)\n"
    w(f"stored {len(new_keys)} new object(s){tail}")
    for key in new_keys:
        w(f"  {key}\n")
    w("\nembeds:\n")
    for e in rep["embeds"]:
        w(f"  {e['provider']} {e['post_id']}: {e['status']}  snapshot {e['snapshot']}\n")
        if e.get("snapshot"):
            m = manifests[e["snapshot"]]
            author = m.get("author") or {}
            w(f"    {author.get('name')} (@{author.get('handle')}), posted {m.get('created_at')}\n")
            w(f"    text: {shown(m.get('text') or '', 100_000)}\n")
            for line in manifest_lines(m):
                w(f"    {line}\n")
            names = ", ".join(_source_label(src) for src in m.get("sources") or [])
            w(f"    sources: {names}\n")
        if e.get("error"):
            w(f"    error: {e['error']}\n")
        if e["provider"] == "twitter" and e["post_id"] in unknown:
            w("    (the fixture origin does not know this post and answered as the platform does for a post that "
              "does not exist; give it with --tweets FILE)\n")
        elif e["provider"] != "twitter":
            w("    (the fixture origin answers this platform's oEmbed only for posts it was given; offline, "
              "this status is the origin's answer)\n")
    w("images:\n")
    for i in rep["images"]:
        w(f"  {i['url']}\n    {i['status']} sha256 {i['sha256']}\n    -> {i['stable_url']}\n")
        if i.get("error"):
            w(f"    error: {i['error']}\n")
    w(f"\nwhat changed in the article (version {rep['version']}, {len(patch['ops'])} span(s); "
      "every other byte is identical):\n")
    source = article.decode("utf-8", errors="replace")
    for op in patch["ops"]:
        if op["old"]:
            w(f"  at {op['start']}-{op['end']}:\n    - {op['old']}\n    + {op['new']}\n")
        else:
            w(f"  inserted at {op['start']}, after {shown(source[max(0, op['start'] - 40):op['start']])}:\n"
              f"    + {op['new']}\n")
    w(f"\nrewritten article: {rep['rewritten']}\noriginal kept at:  {rep['source']}\n")
    for line in trusted:
        w(f"{line}\n")
    return 0


def trusted_time_lines(rt: Runtime, manifest_keys: list[str]) -> list[str]:
    """What the demo says of trusted time (RFC 3161): off when no TSA is configured, else each
    capture's tokens (TSA and time) or that it is still pending."""
    urls = rt.settings.tsa_url_list
    if not urls:
        return ["trusted time: off (ARCHIVER_TSA_URLS is empty; the README's \"Trusted time\" suggests two TSAs)"]
    out = []
    for key in manifest_keys:
        rec = load_record(rt.store, key)
        if rec is None:
            out.append(f"trusted time: {key}: not timestamped yet (`archiver timestamp` does it)")
            continue
        tokens = ", ".join(f"{t.get('tsa_url')} at {t.get('gen_time')}" for t in rec.get("tokens") or [])
        waiting = missing_tsas(rec, urls)
        out.append(f"trusted time: {key}: root {rec.get('root')} timestamped by {tokens or 'no TSA yet'}"
                   + (f"; waiting for {', '.join(waiting)}" if waiting else ""))
    return out


def manifest_lines(m: dict[str, Any]) -> list[str]:
    """What a stored manifest (its JSON shape, any schema version) says beyond author and text, as
    lines of the demo's account: the status in plain words (and the card's note), whether the text is
    whole, each medium with the size stored, counts with their read time, the edit chain, a link card,
    a poll and missing parts; a version 1 manifest gives the lines its fields allow."""
    out = []
    status = m.get("status")
    words = STATUS_WORDS.get(status, "") if isinstance(status, str) else ""
    note = status_note(m)
    out.append(f"status: {status} ({words})" + (f": {note}" if note else ""))
    complete = m.get("text_complete")
    if complete is not None:
        whole = "whole" if complete else "a preview (no source gave the whole text)"
        texts = m.get("texts") or []
        out.append(f"text is {whole}, from {m.get('text_source') or 'the sources'}"
                   + (f"; {len(texts)} source(s) gave a text" if texts else ""))
    for med in m.get("media") or []:
        size = ""
        if med.get("variant"):
            size = f", stored at {med['variant']}" + (", not the original" if med.get("degraded") else
                                                        " (the original)")
        out.append(f"{med.get('type')}: {med.get('mime')} {med.get('width')}x{med.get('height')}{size} "
                   f"sha256 {med.get('sha256')}")
    metrics = m.get("metrics") or {}
    counts = [f"{metrics[k]} {label}" for k, label in (("favorite_count", "likes"), ("retweet_count", "reposts"),
                                                       ("reply_count", "replies"), ("quote_count", "quotes"),
                                                       ("conversation_count", "in the conversation"),
                                                       ("view_count", "views")) if metrics.get(k) is not None]
    if counts:
        out.append(f"counts: {', '.join(counts)} (read at {metrics.get('read_at')})")
    edit = m.get("edit") or {}
    if edit:
        ids = edit.get("edit_ids") or []
        state = ("edited" if edit.get("is_edited") else "not edited") + (
            ", the article shows an earlier version" if edit.get("is_stale") else "")
        out.append(f"edits: {state}; chain {', '.join(ids) or '-'}")
    card = m.get("card") or {}
    if card:
        out.append(f"link card: {shown(card.get('title') or '')} ({card.get('domain')}) -> {card.get('expanded_url')}")
    poll = m.get("poll") or {}
    if poll:
        choices = ", ".join(f"{c.get('label')} {c.get('count')}" for c in poll.get("choices") or [])
        state = "final" if poll.get("counts_are_final") else f"counts at {poll.get('read_at')}"
        out.append(f"poll: {choices} ({state})")
    if m.get("missing"):
        out.append(f"missing: {missing_summary(m.get('missing'))}")
    return out


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver demo [ARTICLE] [--tweets FILE]`: run_demo on stdout, as JSON with `--json`; returns 0."""
    return run_demo(settings, as_json=args.json, article_path=args.article, tweets_path=args.tweets,
                    base_url=args.base_url, article_id=args.article_id)


def _lead_image() -> bytes:
    """A real JPEG, drawn here so the demo needs no network and no bundled binary."""
    import io

    from PIL import Image, ImageDraw

    img = Image.new("RGB", (1200, 675), (24, 48, 96))
    draw = ImageDraw.Draw(img)
    for i in range(0, 1200, 40):
        draw.line([(i, 0), (1200 - i, 675)], fill=(200, 160, 60), width=3)
    draw.rectangle([100, 450, 1100, 600], fill=(240, 240, 240))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def _source_label(src: dict[str, Any]) -> str:
    status = src.get("http_status")
    return f"{src.get('name')} (HTTP {status})" if status is not None else f"{src.get('name')} (the article)"
