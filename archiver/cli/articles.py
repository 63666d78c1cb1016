"""CLI of one article: `archiver archive` (the local runner), `submit` (to the Celery workers),
`retry`, `extract` (what discovery finds) and `show` (the article's versions).

`archive`, `submit` and `extract` read the article from a file, stdin or an http(s) URL and build one
ArticleInput from it and the flags, which is what the pipeline is given. `archive` and `submit` also
take many sources (several SOURCEs, `--from-file`): one Runtime for all, one line, JSON record or
progress-bar step per article, a bad source reported and the others run (`run_bulk`).
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from archiver.article.decode import article_id_for, http_charset, web_encoding
from archiver.article.input import ArticleInput
from archiver.article.versions import Written, version_entry, version_listing, versions
from archiver.capture.exchange import FetchError
from archiver.capture.fetch import Fetcher
from archiver.capture.imagepool import prestart_workers
from archiver.capture.ownsite import OwnSites, site_scope
from archiver.capture.ratelimit import RedisHostLimiter
from archiver.cli.bulk import Reporter, SourceError, StdinOnce, bulk_sources, run_bulk
from archiver.cli.kinds import shown
from archiver.cli.output import print_json, printable
from archiver.config.settings import Settings
from archiver.discover.scan import discover
from archiver.errors import ArchiverError, InputError
from archiver.runners.intake import Intake
from archiver.runners.local import archive, retry
from archiver.runtime import Runtime
from archiver.steps.prepare import check_article_id, load_plan
from archiver.steps.report import article_answer, report
from archiver.steps.results import load_results
from archiver.storage.layout import version_meta_key


def read_source(source: str, settings: Settings,
                fetcher: Fetcher | None = None) -> tuple[bytes, str | None, str | None]:
    """(bytes, final URL or None, the charset its HTTP header declares or None) of a path, '-' (stdin) or
    an http(s) URL fetched through the safe fetcher (`fetcher`: source_fetcher(rt), which holds the
    Runtime's limiter; without one, as `extract` has no Runtime, a fetcher of its own). Raises
    InputError for a missing file, a failed fetch or a file over max_article_bytes."""
    if source.startswith(("http://", "https://")):
        f = Fetcher(settings.replace(max_bytes_html=settings.max_article_bytes)) if fetcher is None else fetcher
        try:
            # The operator gave this URL: its page is on the article's own site (its politeness limits),
            # unless that is a platform's (archiver.capture.ownsite).
            with site_scope(OwnSites(settings.own_hosts, settings.own_sites).trusted_site(source, trusted=True)):
                resp = f.get(source, kind="html")
        except FetchError as exc:
            raise SourceError(source, f"cannot fetch: {without_source(str(exc), source)}") from None
        if resp.status != 200:
            raise SourceError(source, f"cannot fetch: HTTP {resp.status}")
        return resp.body, resp.final_url, http_charset(resp.headers.get("content-type"))
    if source == "-":
        if sys.stdin is None:
            raise SourceError(source, "there is no stdin to read (it was closed)")
        return sys.stdin.buffer.read(settings.max_article_bytes + 1), None, None
    path = Path(source)
    if not path.is_file():
        raise SourceError(source, "no such file")
    size = path.stat().st_size
    if size > settings.max_article_bytes:
        over = f"is {size:,} bytes, over the limit of {settings.max_article_bytes:,} (ARCHIVER_MAX_ARTICLE_BYTES)"
        raise SourceError(source, over, f"{shown(source)} {over}")
    return path.read_bytes(), None, None


def without_source(message: str, source: str) -> str:
    """A fetch error's `message` without the URL it was about (`source`, cut to the 200 characters the
    fetcher quotes): the error names its source once, where it is printed. A redirect target stays."""
    named = source[:200]
    message = message.removeprefix(f"{named}: ")
    return message.replace(f" {named}:", ":").replace(named, "the URL")


def source_fetcher(rt: Runtime) -> Fetcher:
    """The fetcher of articles given as URLs: the safe fetcher, its HTML cap max_article_bytes, holding
    the Runtime's limiter (rt.fetcher's), so the page fetches and the captures of one host share one
    limiter (the fleet's buckets in Redis for `submit`, fleet_limiter)."""
    return Fetcher(rt.settings.replace(max_bytes_html=rt.settings.max_article_bytes), rt.fetcher.limiter)


def fleet_limiter(settings: Settings) -> Any:
    """The workers' per-host limiter (RedisHostLimiter on the broker) when the broker is Redis, else None
    (the Runtime's in-process one): what `submit` fetches articles given as URLs through."""
    if not settings.broker_url.startswith(("redis://", "rediss://", "unix://")):
        return None
    return RedisHostLimiter(settings.broker_url, settings)


def runtime_and_article(args: argparse.Namespace, settings: Settings, *,
                        limiter: Any = None) -> tuple[Runtime, ArticleInput]:
    """(an open Runtime, the ArticleInput of `args.source`). A source given as a URL is fetched through
    the Runtime's limiter, so the Runtime is opened first (and closed again if the fetch fails); a
    file or stdin is read first, so an unreadable one opens nothing. The caller closes the Runtime."""
    if not args.source.startswith(("http://", "https://")):
        article = article_input(args, settings)
        return Runtime.from_settings(settings, limiter=limiter), article
    rt = Runtime.from_settings(settings, limiter=limiter)
    try:
        return rt, article_input(args, settings, fetcher=source_fetcher(rt))
    except BaseException:
        rt.close()
        raise


def article_input(args: argparse.Namespace, settings: Settings, *, with_url: bool = True,
                  source: str | None = None, fetcher: Fetcher | None = None) -> ArticleInput:
    """The ArticleInput of `args.source` and the article flags. The article's URL (`with_url`; the plan's
    `url`, shown on the article page and in the catalog) is the fetched URL of a source given as a URL,
    else --base-url; --base-url is also what relative links resolve against. --charset, else the
    charset of the fetched URL's HTTP header, is the article's charset (a WHATWG label). Raises
    InputError as read_source does, or for a malformed flag value or a charset that is not an encoding
    of the web. `source` (default `args.source`) is read, a URL through `fetcher` if given."""
    source = args.source if source is None else source
    data, final_url, header_charset = read_source(source, settings, fetcher)
    url = final_url or (source if source.startswith(("http://", "https://")) else None) or args.base_url
    charset = args.charset
    if charset is None and header_charset is not None:
        web_encoding(header_charset, where="charset in the page's HTTP header")
        charset = header_charset
    # Every URL here is vouched for: the page's final URL (archiver fetched the article from it) or one
    # the operator gave (the source, --base-url), so the article's site gets the own-site limits.
    return ArticleInput(data, url=url if with_url else None, base_url=args.base_url, charset=charset,
                        format=args.format, url_trusted=bool(with_url and url))


def cmd_archive(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver archive`: archive the article in this process and print its report (`--json`: as JSON);
    returns 0. InputError for an unreadable or unusable article. Several sources (or --from-file) are
    archived by `bulk_archive`."""
    # Image workers start now, on the other cores, while the article is read and its embeds found.
    prestart_workers(settings)
    sources = bulk_sources(args)
    if sources is not None:
        return bulk_archive(args, settings, sources)
    rt, article = runtime_and_article(args, settings)
    with rt:
        rep = archive(rt, article, article_id=args.article_id)
    print_json(rep) if args.json else print_report(rep)
    return 0


def cmd_retry(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver retry`: capture again what did not end well (failed, unavailable, or partial: archived
    with parts missing; archiver.capture.manifest.RETRYABLE_STATUSES), here or with `--queue` on the
    workers, completing each item's earlier capture under its capture id; returns 0. Images our own
    policy rejected (the fetcher's address guard, a byte, pixel, frame, time or memory limit) are tried
    again once the settings that refused them changed (archiver/steps/policy.py); images rejected for
    what they are stay rejected. InputError for an unknown article; ArchiverError when `--queue` cannot
    reach the broker."""
    if args.queue:
        with Runtime.from_settings(settings) as rt, Intake(rt) as intake:
            n = intake.retry(args.article_id)
        if args.json:
            print_json({"article_id": args.article_id, "queued": n})
        else:
            print(f"queued {n} item(s) of {args.article_id} for another capture")
        return 0
    with Runtime.from_settings(settings) as rt:
        rep = retry(rt, args.article_id)
    print_json(rep) if args.json else print_report(rep)
    return 0


def cmd_submit(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver submit`: queue the article for the workers and print its job, with `--wait` seconds the new
    version too; returns 0. `--json`: {"article_id", "source_sha256", "job_id", "queued"}, and with
    `--wait` the archive report too, as `archive --json` prints it (`report`: version, rewritten,
    source, embeds and images with their statuses as the workers stored them). InputError for an
    unusable article; ArchiverError when the broker is unreachable or the wait runs out. Several sources
    (or --from-file) are submitted by `bulk_submit`."""
    sources = bulk_sources(args)
    if sources is not None:
        return bulk_submit(args, settings, sources)
    rt, article = runtime_and_article(args, settings, limiter=fleet_limiter(settings))
    with rt, Intake(rt) as intake:
        job = intake.submit(args.article_id or article_id_for(article.data), article, via="cli", queue_only=True)
        out: dict[str, Any] = {"article_id": job.article_id, "source_sha256": job.source_sha256,
                               "job_id": job.job_id, "queued": job.queued}
        if args.wait:
            out.update(wait_for_version(rt, job.article_id, job.source_sha256, args.wait))
            if args.json:
                plan = load_plan(rt, job.article_id, job.source_sha256)
                written = [v for v in versions(rt, job.article_id) if v.version == out["version"]]
                # new_version: this submit queued the work (a source already queued or archived is not new)
                rep = report(rt, plan, Written(written[0], new=job.queued) if written else None,
                             load_results(rt, plan))
                out.update({k: v for k, v in rep.items() if k not in out or k == "version"})
    if args.json:
        print_json(out)
    else:
        state = "queued" if job.queued else "already queued or archived"
        print(f"article {job.article_id}: {state} (job {job.job_id})")
        if args.wait:
            print(f"  version {out.get('version')}: {out.get('rewritten')}")
    return 0


def bulk_archive(args: argparse.Namespace, settings: Settings, sources: list[str]) -> int:
    """`archiver archive` of many sources: one Runtime, `article_concurrency` articles at once (each
    under its own archive_deadline), each reported as it finishes (archiver/cli/bulk.py); returns the
    exit status run_bulk gives."""
    stdin = StdinOnce(taken=args.from_file == "-")
    with Runtime.from_settings(settings) as rt, closing(source_fetcher(rt)) as fetcher:
        def work(source: str) -> dict[str, Any]:
            article = article_input(args, settings, source=stdin.check(source), fetcher=fetcher)
            return archive(rt, article)

        reporter = Reporter(len(sources), as_json=args.json, done_word="archived", line=_archived_line)
        return run_bulk(sources, work, reporter, workers=settings.article_concurrency)


def _archived_line(source: str, rep: dict[str, Any]) -> str:
    items = rep["embeds"] + rep["images"]
    ok = sum(1 for x in items if x["status"] == "archived")
    return (f"{source}: article {rep['article_id']} version {rep['version']}"
            f"{' (new)' if rep.get('new_version') else ' (unchanged)'}, {ok} of {len(items)} items archived")


def bulk_submit(args: argparse.Namespace, settings: Settings, sources: list[str]) -> int:
    """`archiver submit` of many sources: one Runtime and one Intake (one broker connection), the broker
    checked once before the first (ArchiverError when it does not answer), `article_concurrency`
    sources stored and queued at once, each reported as it finishes; returns run_bulk's exit status."""
    stdin = StdinOnce(taken=args.from_file == "-")
    with (Runtime.from_settings(settings, limiter=fleet_limiter(settings)) as rt, Intake(rt) as intake,
          closing(source_fetcher(rt)) as fetcher):
        intake.reachable_broker()
        intake.tasks()

        def work(source: str) -> dict[str, Any]:
            article = article_input(args, settings, source=stdin.check(source), fetcher=fetcher)
            job = intake.submit(article_id_for(article.data), article, via="cli", queue_only=True)
            return {"article_id": job.article_id, "source_sha256": job.source_sha256, "job_id": job.job_id,
                    "queued": job.queued}

        reporter = Reporter(len(sources), as_json=args.json, done_word="submitted", line=_submitted_line)
        return run_bulk(sources, work, reporter, workers=settings.article_concurrency)


def _submitted_line(source: str, job: dict[str, Any]) -> str:
    state = "queued" if job["queued"] else "already queued or archived"
    return f"{source}: article {job['article_id']} {state} (job {job['job_id']})"


def wait_for_version(rt: Runtime, article_id: str, sha: str, timeout: float) -> dict[str, Any]:
    """{"version", "rewritten"} of the first version written from source `sha`, polled every 0.1 s.

    Raises ArchiverError when none is committed within `timeout` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        done = [v for v in versions(rt, article_id) if v.source_sha256 == sha]
        if done:
            return {"version": done[-1].version, "rewritten": rt.store.locate(done[-1].key)}
        time.sleep(0.1)
    raise ArchiverError(f"article {article_id} was not rewritten within {timeout:.0f}s (still queued?)")


def cmd_extract(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver extract`: print the embeds and images discovery finds, with code-point spans; returns 0.
    Nothing is fetched but the article itself; InputError for an unreadable article."""
    article = article_input(args, settings, with_url=False)
    decoded = article.decode(max_bytes=settings.max_article_bytes)
    found = discover(decoded.text, base_url=article.base_url, fmt=article.format)
    if args.json:
        print_json(found.to_json())
    else:
        for e in found.embeds:
            print(printable(f"embed {e.provider} {e.post_id or '-'} [{e.start}:{e.end}] {e.url or ''}", 10_000))
        for i in found.images:
            print(printable(f"image [{i.start}:{i.end}] {i.url}", 10_000))
        for limit in found.limits:  # what discovery left unread past one of its limits
            print(printable(f"limit: {limit}", 10_000))
    return 0


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver show`: print the article's versions, the current one marked; with `--json`, what GET
    /v1/articles/{id} answers (archiver.steps.report.article_answer: status, versions, items, the
    current body). A version whose record is damaged is printed marked "record unreadable" (and listed
    as {"version", "unreadable": true, "key"} in the JSON), not raised: the others are still shown.
    An article received but with no version yet (queued, capturing) is its status line, as the API
    answers it. Returns 0; InputError for a malformed id or an id nothing was received under."""
    with Runtime.from_settings(settings) as rt:
        aid = check_article_id(args.article_id)
        listing = version_listing(rt, aid)
        answer = article_answer(rt, aid) if args.json or not (listing.readable or listing.unreadable) else None
        if not listing.readable and not listing.unreadable and answer is None:
            raise InputError(f"no article {shown(args.article_id)}: nothing is stored under that id")
        if args.json:
            print_json(answer)
            return 0
        if not listing.readable and not listing.unreadable:
            assert answer is not None
            print(printable(f"{aid}: {answer['status']}, no version yet (received {answer.get('created_at') or '-'}; "
                            f"job {answer.get('job_id') or '-'})", 10_000))
            return 0
        history = listing.readable
        lines = {v.version: _show_line(version_entry(rt, v), current=v is history[-1]) for v in history}
        for n in listing.unreadable:
            lines[n] = (f"! v{n}  record unreadable: {printable(rt.store.locate(version_meta_key(aid, n)), 1000)}"
                        " (restore it from a backup)")
    for n in sorted(lines):
        print(lines[n])
    return 0


def _show_line(v: dict[str, Any], *, current: bool) -> str:
    mark = "*" if current else " "
    return printable(f"{mark} v{v['version']}  {v['created']}  {v['reason']:<8} {v['path']}", 10_000)


def print_report(rep: dict[str, Any]) -> None:
    """The human-readable form of an archive or retry report (the JSON form is in the README): one
    line per item, and under an embed one line per part its capture lacks ("missing: photo <url>
    (<reason>)"). Each line is `printable` (URLs, ids and errors come from the article and the
    platforms: their control characters are escaped)."""
    def say(line: str) -> None:
        print(printable(line, 10_000))

    say(f"article {rep['article_id']}: version {rep['version']}"
        f"{' (new)' if rep.get('new_version') else ' (unchanged)'}")
    say(f"  rewritten: {rep['rewritten']}")
    for e in rep["embeds"]:
        say(_item_line(f"embed {e['provider']} {e['post_id'] or '(no id in markup)'}", e["status"],
                       e.get("snapshot"), e.get("error")))
        for part in e.get("missing") or []:
            say(f"    missing: {part.get('part')}" + (f" {part['ref']}" if part.get("ref") else "")
                + (f" ({part['reason']})" if part.get("reason") else ""))
    for i in rep["images"]:
        say(_item_line(f"image {i['url']}", i["status"], i.get("stable_url"), i.get("error")))


def _item_line(what: str, status: str, where: str | None, error: str | None) -> str:
    return f"  {what}: {status}" + (f" -> {where}" if where else "") + (f" ({error})" if error else "")
