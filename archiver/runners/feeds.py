"""The RSS/Atom poller: the publish trigger for CMSs without a webhook.

Each configured feed (setting `feeds`) is fetched through the safe Fetcher and parsed with
feedparser; every entry whose content is new is submitted like the publish hook. An entry is
remembered as `feeds/<feed sha256[:16]>/<guid sha256[:16]>-<content sha256[:16]>` in storage after
it was submitted, so a second poll submits nothing and an edited entry is submitted again.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import feedparser

from archiver.article.decode import decode_xml
from archiver.article.input import ArticleInput, is_http_url, utf8_body
from archiver.capture.exchange import FetchError
from archiver.errors import ArchiverError, InputError
from archiver.runners.intake import Intake

log = logging.getLogger(__name__)


@dataclass
class PollReport:
    """One polling round: feeds read, entries with a guid and content, the job ids it queued, and one line
    per feed that failed."""

    feeds: int = 0
    entries: int = 0
    submitted: list[str] = field(default_factory=list)  # job ids
    errors: list[str] = field(default_factory=list)


def _h(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def entry_content(entry: Any) -> str:
    """content:encoded / Atom content when present, else the summary."""
    for part in entry.get("content") or ():
        if part.get("value"):
            return str(part["value"])
    return str(entry.get("summary") or "")


def article_id_for_entry(feed_url: str, guid: str) -> str:
    """A stable article id per (feed, entry guid): ids in feeds are URLs, not catalog-safe names."""
    return f"feed-{_h(feed_url)[:8]}-{_h(guid)[:24]}"


# A numeric character reference, decimal or hex, leading zeros aside (feedparser leaves one without
# its ";" as text).
_CHAR_REF = re.compile(r"&#(?:[xX]0*([0-9a-fA-F]+)|0*([0-9]+));")


def no_unencodable_references(text: str) -> str:
    """`text` (XML) with each numeric character reference to a surrogate (U+D800-DFFF) or past U+10FFFF
    written as ``&#xFFFD;``, the replacement character HTML reads such a reference as (HTML Standard,
    "numeric character reference end state"). XML allows neither; feedparser's lenient parser turns the
    first into a string no encoder takes and fails on the second, so one such entry lost the whole feed."""
    def replace(m: re.Match[str]) -> str:
        digits = m.group(1) or m.group(2)
        if len(digits) > 8:   # past U+10FFFF in either base
            return "&#xFFFD;"
        code = int(digits, 16) if m.group(1) else int(digits)
        return "&#xFFFD;" if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF else m.group(0)

    return _CHAR_REF.sub(replace, text) if "&#" in text else text


def poll_feed(intake: Intake, feed_url: str, report: PollReport) -> None:
    """Fetch one feed and submit each entry whose content is new, adding to `report`.

    Raises FetchError when the feed cannot be fetched (or is not HTTP 200), InputError when its encoding
    is not one of the web's, its bytes do not decode or it cannot be parsed (one line), ArchiverError
    when an entry cannot be submitted (the rest of the feed is then left for the next poll). An entry
    that is not a usable article (InputError) is reported in `report.errors` and remembered."""
    rt = intake.rt
    resp = rt.fetcher.get(feed_url, kind="html", headers={"Accept": "application/atom+xml, application/rss+xml, "
                                                                     "application/xml;q=0.9, */*;q=0.5"})
    if resp.status != 200:
        raise FetchError("bad_response", f"{feed_url}: HTTP {resp.status}")
    # The feed is decoded here, by the web's encoding labels (feedparser would use any Python codec an
    # XML declaration names, unicode_escape included); feedparser then reads it as the UTF-8 it now is.
    text = no_unencodable_references(decode_xml(resp.body, resp.headers.get("content-type"), what="feed"))
    try:
        parsed = feedparser.parse(text.encode("utf-8"), response_headers={
            "content-location": resp.final_url, "content-type": "application/xml; charset=utf-8"})
    except Exception as exc:  # feedparser's lenient parser may still fail on a hostile feed
        raise InputError(f"feed cannot be parsed ({type(exc).__name__}: {str(exc)[:200]})") from None
    report.feeds += 1
    for entry in parsed.entries:
        guid = str(entry.get("id") or entry.get("link") or "")
        content = entry_content(entry)
        if not guid or not content:
            continue
        report.entries += 1
        seen = f"feeds/{_h(feed_url)[:16]}/{_h(guid)[:16]}-{_h(content)[:16]}"
        if rt.store.exists(seen):
            continue
        link = entry.get("link")
        published = entry.get("published") or entry.get("updated")
        try:
            article = ArticleInput(utf8_body(content, what="the entry"), url=link if is_http_url(link) else None,
                                   published_at=published if isinstance(published, str) else None)
            job = intake.submit(article_id_for_entry(feed_url, guid), article, via=f"feed {feed_url}")
        except InputError as exc:
            # This entry cannot be used as it is (an encoding that is not the web's, say): reported once,
            # remembered, and the rest of the feed is still submitted. An edited entry is tried again.
            report.errors.append(f"{feed_url}: entry {guid[:200]!r}: {exc}")
            rt.store.put(seen, f"refused: {exc}".encode("utf-8", "replace"), content_type="text/plain",
                         if_none_match=True)
            continue
        rt.store.put(seen, job.job_id.encode(), content_type="text/plain", if_none_match=True)
        if job.queued:
            report.submitted.append(job.job_id)


def poll_feeds(intake: Intake) -> PollReport:
    """Poll every configured feed once; a broken feed is reported and the others still polled."""
    report = PollReport()
    feeds = [u.strip() for u in intake.rt.settings.feeds.split(",") if u.strip()]
    for feed_url in feeds:
        try:
            poll_feed(intake, feed_url, report)
        except (FetchError, ArchiverError) as exc:
            log.warning("feed %s: %s", feed_url, exc)
            report.errors.append(f"{feed_url}: {exc}")
    return report
