"""The `archiver` command: archive articles, run the service, search, restore, verify evidence.

Errors the user can act on are printed as one line and a non-zero exit; tracebacks only with
ARCHIVER_DEBUG=1.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from archiver import __version__
from archiver.article.decode import article_id_for, decode_article
from archiver.article.versions import versions
from archiver.capture.fetch import Fetcher, FetchError
from archiver.cli.commands import register_all
from archiver.cli.demo import run_demo
from archiver.config.settings import Settings, load_settings
from archiver.discover.scan import discover
from archiver.errors import ArchiverError, InputError
from archiver.runners.intake import Intake
from archiver.runners.local import archive, retry
from archiver.runtime import Runtime
from archiver.steps.prepare import check_article_id
from archiver.web.app import create_app

EXIT_INPUT = 2
EXIT_INTERNAL = 1


def _read_input(source: str, settings: Settings) -> tuple[bytes, str | None]:
    """Bytes of a path, '-' (stdin) or an http(s) URL fetched through the safe fetcher."""
    if source.startswith(("http://", "https://")):

        fetcher = Fetcher(settings.replace(max_bytes_html=settings.max_article_bytes))
        try:
            resp = fetcher.get(source, kind="html")
        except FetchError as exc:
            raise InputError(f"cannot fetch {source}: {exc}") from None
        finally:
            fetcher.close()
        if resp.status != 200:
            raise InputError(f"cannot fetch {source}: HTTP {resp.status}")
        return resp.body, resp.final_url
    if source == "-":
        data = sys.stdin.buffer.read(settings.max_article_bytes + 1)
        return data, None
    path = Path(source)
    if not path.is_file():
        raise InputError(f"{source}: no such file")
    size = path.stat().st_size
    if size > settings.max_article_bytes:
        raise InputError(
            f"{source} is {size:,} bytes, over the limit of {settings.max_article_bytes:,} "
            "(ARCHIVER_MAX_ARTICLE_BYTES)"
        )
    return path.read_bytes(), None


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def _print_report(rep: dict[str, Any]) -> None:
    print(f"article {rep['article_id']}: version {rep['version']}"
          f"{' (new)' if rep.get('new_version') else ' (unchanged)'}")
    print(f"  rewritten: {rep['rewritten']}")
    for e in rep["embeds"]:
        _print_item(f"embed {e['provider']} {e['post_id'] or '(no id in markup)'}", e["status"], e.get("snapshot"),
                    e.get("error"))
    for i in rep["images"]:
        _print_item(f"image {i['url']}", i["status"], i.get("stable_url"), i.get("error"))


def _print_item(what: str, status: str, where: str | None, error: str | None) -> None:
    print(f"  {what}: {status}" + (f" -> {where}" if where else "") + (f" ({error})" if error else ""))


def cmd_archive(args: argparse.Namespace, settings: Settings) -> int:

    data, final_url = _read_input(args.source, settings)
    url = final_url or (args.source if args.source.startswith(("http://", "https://")) else None)
    rt = Runtime.from_settings(settings)
    try:
        rep = archive(rt, data, url=url, base_url=args.base_url, article_id=args.article_id,
                               fmt=args.format, charset=args.charset)
    finally:
        rt.close()
    _print_json(rep) if args.json else _print_report(rep)
    return 0


def cmd_retry(args: argparse.Namespace, settings: Settings) -> int:

    if args.queue:
        from workers.tasks import retry_article

        n = retry_article(args.article_id)
        print(f"queued {n} item(s) of {args.article_id} for another capture")
        return 0
    rt = Runtime.from_settings(settings)
    try:
        rep = retry(rt, args.article_id)
    finally:
        rt.close()
    _print_json(rep) if args.json else _print_report(rep)
    return 0


def cmd_submit(args: argparse.Namespace, settings: Settings) -> int:

    data, final_url = _read_input(args.source, settings)
    url = final_url or (args.source if args.source.startswith(("http://", "https://")) else None)
    rt = Runtime.from_settings(settings)
    try:
        job = Intake(rt).submit(args.article_id or article_id_for(data), data, url=url,
                                base_url=args.base_url, via="cli", fmt=args.format, queue_only=True)
    finally:
        rt.close()
    out = {"article_id": job.article_id, "source_sha256": job.source_sha256, "job_id": job.job_id,
           "queued": job.queued}
    if args.wait:
        out.update(_wait_for_version(settings, job.article_id, job.source_sha256, args.wait))
    if args.json:
        _print_json(out)
    else:
        state = "queued" if job.queued else "already queued or archived"
        print(f"article {job.article_id}: {state} (job {job.job_id})")
        if args.wait:
            print(f"  version {out.get('version')}: {out.get('rewritten')}")
    return 0


def _wait_for_version(settings: Settings, article_id: str, sha: str, timeout: float) -> dict[str, Any]:
    import time


    rt = Runtime.from_settings(settings)
    try:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            done = [v for v in versions(rt, article_id) if v["source_sha256"] == sha]
            if done:
                return {"version": done[-1]["version"], "rewritten": rt.store.locate(done[-1]["key"])}
            time.sleep(0.1)
    finally:
        rt.close()
    raise ArchiverError(f"article {article_id} was not rewritten within {timeout:.0f}s (still queued?)")


def cmd_extract(args: argparse.Namespace, settings: Settings) -> int:

    data, _ = _read_input(args.source, settings)
    decoded = decode_article(data, args.charset, max_bytes=settings.max_article_bytes)
    found = discover(decoded.text, base_url=args.base_url, fmt=args.format)
    if args.json:
        _print_json(found.to_json())
    else:
        for e in found.embeds:
            print(f"embed {e.provider} {e.post_id or '-'} [{e.start}:{e.end}] {e.url or ''}")
        for i in found.images:
            print(f"image [{i.start}:{i.end}] {i.url}")
    return 0


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:

    rt = Runtime.from_settings(settings)
    try:
        history = versions(rt, check_article_id(args.article_id))
        if not history:
            raise InputError(f"no article {args.article_id!r} in {rt.store.describe()}")
        out = {
            "article_id": args.article_id,
            "current": history[-1]["version"],
            "versions": [{"version": v["version"], "created": v["created_at"], "reason": v["reason"],
                          "key": v["key"], "path": rt.store.locate(v["key"]), "sha256": v["sha256"]}
                         for v in history],
        }
    finally:
        rt.close()
    if args.json:
        _print_json(out)
    else:
        for v in out["versions"]:
            mark = "*" if v["version"] == out["current"] else " "
            print(f"{mark} v{v['version']}  {v['created']}  {v['reason']:<8} {v['path']}")
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:

    return run_demo(settings, as_json=args.json)


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    argv = ["celery", "-A", "workers.app", "worker", "--loglevel", args.loglevel,
            "--concurrency", str(args.concurrency), "-Q", "archiver"]
    os.execvp(argv[0], argv)  # noqa: S606 - fixed argv, no shell
    return 0  # pragma: no cover - execvp does not return


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn


    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="archiver", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"archiver {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def article_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("source", help="article file, '-' for stdin, or an http(s) URL")
        sp.add_argument("--base-url", help="URL the article is published at (resolves relative links)")
        sp.add_argument("--format", default="auto", choices=["auto", "html", "markdown", "text"])
        sp.add_argument("--charset", help="charset of the file when it does not declare one")

    sp = sub.add_parser("archive", help="archive one article in this process (embedded mode)")
    article_args(sp)
    sp.add_argument("--article-id", help="defaults to a hash of the source")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_archive)

    sp = sub.add_parser("submit", help="queue an article for the Celery workers")
    article_args(sp)
    sp.add_argument("--article-id")
    sp.add_argument("--wait", type=float, metavar="SECONDS", help="wait for the rewritten version")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_submit)

    sp = sub.add_parser("retry", help="capture again what failed, then rewrite")
    sp.add_argument("article_id")
    sp.add_argument("--queue", action="store_true", help="hand the work to the Celery workers")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_retry)

    sp = sub.add_parser("extract", help="list the embeds and images an article holds")
    article_args(sp)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_extract)

    sp = sub.add_parser("show", help="an article's versions")
    sp.add_argument("article_id")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_show)

    sp = sub.add_parser("demo", help="archive a bundled sample article against a local fixture origin")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_demo)

    sp = sub.add_parser("serve", help="serve the stable URLs of archived copies over HTTP")
    sp.add_argument("--host", default="127.0.0.1")
    sp.add_argument("--port", type=int, default=8080)
    sp.set_defaults(func=cmd_serve)

    sp = sub.add_parser("worker", help="run a Celery worker (same as celery -A workers.app worker)")
    sp.add_argument("--concurrency", type=int, default=2)
    sp.add_argument("--loglevel", default="INFO")
    sp.set_defaults(func=cmd_worker)


    register_all(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=os.environ.get("ARCHIVER_LOG_LEVEL", "WARNING").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        settings = load_settings()
        return int(args.func(args, settings) or 0)
    except ArchiverError as exc:
        print(f"archiver: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get("ARCHIVER_DEBUG"):
            raise
        logging.getLogger("archiver").debug("internal error", exc_info=True)
        print(f"archiver: internal error: {type(exc).__name__}: {exc} (ARCHIVER_DEBUG=1 shows details)",
              file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
