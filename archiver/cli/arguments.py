"""What a user can type: the arguments of every `archiver` command, by group.

Each subcommand names the function that runs it as ``"<module>:<function>"`` of archiver/cli/; `main`
imports that module only when the command runs, so `archiver --help` (or `archiver verify`) does not
load what every other command needs (FastAPI, psycopg, Celery's kombu, Pillow). GROUPS is the order of
`archiver --help`. A command function takes (args, settings) and returns the exit code; errors the user
can act on are raised as archiver.errors.ArchiverError (main prints them as one line and exits 2).

The search command's options are made from the search query's model (archiver.catalog.query: a pydantic
model and the query syntax, about 12 ms of imports), which `search` imports by name when that parser
is built: `archiver archive` and the other commands do not load it.
"""

from __future__ import annotations

import argparse
import importlib
from datetime import timedelta

from archiver.auth import parse_duration
from archiver.cli.kinds import (
    article_id,
    article_source,
    at_least_one,
    charset,
    existing_dir_parent,
    existing_file,
    http_url,
    not_negative,
    not_negative_float,
    port,
    positive_float,
    post_ref,
    provider,
)
from archiver.discover.formats import FORMATS
from archiver.errors import InputError
from archiver.roles import ROLES

LOG_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
# Search fields checked by kind as they are parsed (the rest by SearchQuery's own validation).
KINDS = {"provider": provider}


def _article_args(sp: argparse.ArgumentParser, *, many: bool = False) -> None:
    if many:
        sp.add_argument("source", nargs="*", metavar="SOURCE",
                        help="article files, http(s) URLs, or '-' for one article read from stdin; several may "
                             "be given (bulk: one runtime for all, a line or --json record per article)")
        sp.add_argument("--from-file", type=source_list, metavar="FILE",
                        help="also read sources from FILE, one per line (blank lines and lines starting with # "
                             "are skipped; '-' reads the list from stdin)")
        sp.add_argument("-0", "--null", action="store_true",
                        help="--from-file's names end with a NUL byte (find -print0), each taken exactly as it is")
    else:
        sp.add_argument("source", type=article_source, help="article file, '-' for stdin, or an http(s) URL")
    sp.add_argument("--base-url", type=http_url, metavar="URL",
                    help="the absolute http(s) URL the article is published at: stored as the article's URL "
                         "and what relative links resolve against (at most 2048 characters)"
                         + ("; one source only" if many else ""))
    sp.add_argument("--format", default="auto", choices=list(FORMATS),
                    help="how to read the article: auto (by its first bytes), html, markdown or text"
                         + ("; applies to every source" if many else ""))
    sp.add_argument("--charset", type=charset, help="charset of the file when it is not UTF-8 and has no BOM: a "
                    "label of the WHATWG Encoding Standard (windows-1252, shift_jis, ...); tried before its own "
                    "<meta charset>" + ("; applies to every source" if many else ""))


def source_list(value: str) -> str:
    """`--from-file`: ``-`` (the list on stdin) or a readable regular file (`existing_file`)."""
    return value if value == "-" else existing_file(value)


BULK = ("With several sources (or --from-file), each article gets its own line (its own JSON record with "
        "--json, naming its source; a progress bar instead when stderr is a terminal) and a bad source does "
        "not stop the others: the command ends with 'N {done}, M failed' on stderr and exits 2 when a source "
        "was unusable (1 when an internal error struck one). --base-url and --article-id name one article, so "
        "they take one source only; --format and --charset apply to every source. Options may stand anywhere "
        "among the SOURCEs; put -- before a SOURCE that starts with -.")


def articles(sub: argparse._SubParsersAction) -> None:
    """Add archive, submit, retry, extract and show."""
    sp = sub.add_parser("archive", help="archive articles in this process (the local runner)",
                        description="Archive one article, or many, in this process (the local runner). "
                                    + BULK.format(done="archived")
                                    + " Many articles run at once (the article_concurrency setting, default 4), "
                                      "each under its own archive_deadline.")
    sp.intermixed = True  # OneLineParser: options anywhere among the sources
    _article_args(sp, many=True)
    sp.add_argument("--article-id", type=article_id, help="defaults to a hash of the source (one source only)")
    sp.add_argument("--json", action="store_true", help="print the archive report as JSON (the README's shape); "
                    'with several sources one line per article, the report plus "input" (the source as given), or '
                    '{"input", "error", "exit"}')
    sp.set_defaults(run="articles:cmd_archive")

    sp = sub.add_parser("submit", help="queue articles for the Celery workers",
                        description="Store articles and queue them for the Celery workers. "
                                    + BULK.format(done="submitted")
                                    + " All of them go through one broker connection.")
    sp.intermixed = True  # OneLineParser: options anywhere among the sources
    _article_args(sp, many=True)
    sp.add_argument("--article-id", type=article_id, help="defaults to a hash of the source (one source only)")
    sp.add_argument("--wait", type=float, metavar="SECONDS", help="wait for the rewritten version (one source only)")
    sp.add_argument("--json", action="store_true", help="print the job as JSON; with --wait, the archive "
                    "report as `archive --json` prints it, its items as the workers stored them; with several "
                    'sources one line per article, the job plus "input" (the source as given), or {"input", "error", '
                    '"exit"}')
    sp.set_defaults(run="articles:cmd_submit")

    sp = sub.add_parser("retry", help="capture again what failed, then rewrite",
                        description="Capture again what did not end well (failed, unavailable, or archived with "
                                    "parts missing), then rewrite. Images our own policy rejected (an address "
                                    "the fetcher's guard refused, a byte, pixel, frame, time or memory limit) "
                                    "are tried again once the settings that refused them have changed "
                                    "(fetch_allow, max_bytes_image, ...); images rejected for what they are "
                                    "(not an image, damaged) stay rejected.")
    sp.add_argument("article_id", type=article_id, help="the article's id (as archive or submit printed it)")
    sp.add_argument("--queue", action="store_true", help="hand the work to the Celery workers")
    sp.add_argument("--json", action="store_true", help="print the retry report as JSON (with --queue: "
                    '{"article_id", "queued"})')
    sp.set_defaults(run="articles:cmd_retry")

    sp = sub.add_parser("extract", help="list the embeds and images an article holds")
    _article_args(sp)
    sp.add_argument("--json", action="store_true", help='print {"embeds": [...], "images": [...]} with spans')
    sp.set_defaults(run="articles:cmd_extract")

    sp = sub.add_parser("show", help="an article's versions")
    sp.add_argument("article_id", type=article_id, help="the article's id")
    sp.add_argument("--json", action="store_true", help="print what GET /v1/articles/{id} answers: status, "
                    "versions, items and the current body")
    sp.set_defaults(run="articles:cmd_show")

def demo(sub: argparse._SubParsersAction) -> None:
    """Add demo."""
    sp = sub.add_parser("demo", help="archive a sample article (or yours) offline, against a local fixture origin",
                        description="Archive the bundled Hindi/English sample article, or ARTICLE, with its "
                                    "posts answered by a local fixture origin that plays the platforms' "
                                    "endpoints: no network is needed for the posts it knows (the sample's ANI "
                                    "tweet, and those of --tweets); any other post is answered as the platform "
                                    "answers for a post that does not exist, and its status says so.")
    sp.add_argument("article", nargs="?", type=existing_file, metavar="ARTICLE",
                    help="an article file of yours to archive instead of the sample (its images are fetched "
                         "from their own hosts)")
    sp.add_argument("--tweets", type=existing_file, metavar="FILE",
                    help='a JSON list of tweets the fixture origin answers for, each {"id", "handle", "name", '
                         '"text", "lang", "created_at"} (the fields of archiver.testing.fixtures.TweetFixture)')
    sp.add_argument("--base-url", type=http_url, metavar="URL",
                    help="the URL ARTICLE is published at (default: a page of the fixture origin)")
    sp.add_argument("--article-id", type=article_id, help="ARTICLE's id (default: a hash of its bytes)")
    sp.add_argument("--json", action="store_true",
                    help='print the archive report plus "stored", "changes" and "storage" as JSON')
    sp.set_defaults(run="demo:cmd_demo")

def service(sub: argparse._SubParsersAction) -> None:
    """Add serve, worker, beat and sweep."""
    sp = sub.add_parser("serve", help="serve the API, the web UI and the stable URLs of archived copies over HTTP")
    sp.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1; "
                    "0.0.0.0 for every IPv4 address)")
    sp.add_argument("--port", type=port, default=8080, help="the TCP port to listen on, 1-65535 (default 8080)")
    sp.set_defaults(run="service:cmd_serve")

    sp = sub.add_parser("worker", help="run a Celery worker (same as celery -A workers.app worker)")
    sp.add_argument("--wait-for", type=not_negative_float, default=60.0, metavar="SECONDS",
                    help="wait this long for the broker, the catalog and storage to answer at start "
                         "(a service still starting), then stop with one line (default 60; 0: ask once)")
    sp.add_argument("--concurrency", type=at_least_one, default=2, help="worker processes (default 2)")
    sp.add_argument("--loglevel", default="INFO", type=str.upper, choices=LOG_LEVELS,
                    help="Celery's log level (default INFO)")
    sp.set_defaults(run="service:cmd_worker")

    sp = sub.add_parser("beat", help="run the scheduler (Celery beat with the project's schedule: health rounds, "
                                     "the sweeper, feeds, timestamps); run exactly one",
                        description="Run Celery beat with the schedule of workers/app.py, supervised as "
                                    "`archiver worker` is. Its schedule file (when each task last ran) is "
                                    "kept at --schedule, by default <ARCHIVER_HOME>/beat/celerybeat-schedule.")
    sp.add_argument("--wait-for", type=not_negative_float, default=60.0, metavar="SECONDS",
                    help="wait this long for the broker to answer at start "
                         "(a service still starting), then stop with one line (default 60; 0: ask once)")
    sp.add_argument("--schedule", type=existing_dir_parent, metavar="FILE",
                    help="the schedule file to keep (its folder must exist and be writable; default "
                         "<ARCHIVER_HOME>/beat/celerybeat-schedule)")
    sp.add_argument("--loglevel", default="INFO", type=str.upper, choices=LOG_LEVELS,
                    help="Celery's log level (default INFO)")
    sp.add_argument("--check", action="store_true",
                    help="do not run: exit 0 when the broker answers and the running beat wrote its schedule file "
                         "within --max-age seconds, else one line and exit 1 (a container healthcheck)")
    sp.add_argument("--max-age", type=at_least_one, default=600, metavar="SECONDS",
                    help="with --check, how old the schedule file may be (default 600; beat writes it at least "
                         "every 3 minutes while it runs)")
    sp.set_defaults(run="service:cmd_beat")

    sp = sub.add_parser("sweep", help="queue what stuck articles miss (the beat does it every sweep_interval)")
    sp.add_argument("--limit", type=at_least_one, help="at most this many articles (default: the sweep_batch setting)")
    sp.add_argument("--json", action="store_true", help='print {"articles", "queued", "unreadable", ...}')
    sp.set_defaults(run="sweep:cmd_sweep")

def duration(value: str) -> timedelta:
    """`token create --expires-in`: a whole number of minutes, hours, days or weeks (``90d``, ``12h``;
    archiver.auth.parse_duration). ArgumentTypeError otherwise."""
    try:
        return parse_duration(value)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def access(sub: argparse._SubParsersAction) -> None:
    """Add token (create, list, revoke), export, verify and keys (create, show)."""
    sp = sub.add_parser("token", help="API tokens: make, list and revoke them")
    tsub = sp.add_subparsers(dest="token_command", required=True)
    tc = tsub.add_parser("create", help="make an API token; prints it (once) as the last word")
    tc.add_argument("--role", required=True, choices=ROLES, help="what the token may do: " + ", ".join(ROLES))
    tc.add_argument("--name", help="who or what holds the token (shown in the audit log and by token list)")
    tc.add_argument("--expires-in", type=duration, metavar="DURATION",
                    help="the token stops working after this long: a whole number and m (minutes), h (hours), "
                         "d (days) or w (weeks), e.g. 90d or 12h (default: until revoked)")
    tc.add_argument("--json", action="store_true",
                    help='print {"id", "role", "name", "expires_at", "token"} (the token is shown only this once)')
    tc.set_defaults(run="access:cmd_token_create")
    tl = tsub.add_parser("list", help="every API token: id, role, state, created, last used, expiry, name "
                                      "(never the secret)")
    tl.add_argument("--json", action="store_true", help='print {"tokens": [{"id", "name", "role", "created_at", '
                    '"last_used_at", "expires_at", "revoked_at", "state"}]}')
    tl.set_defaults(run="access:cmd_token_list")
    tr = tsub.add_parser("revoke", help="revoke an API token now: the API refuses it and its web sessions end",
                         description="Revoke an API token: from now on the API answers it 401 and every web "
                                     "session signed in with it ends. Revoking a revoked token changes nothing "
                                     "(exit 0). Audited.")
    tr.add_argument("token", metavar="ID_OR_NAME", help="the token's id (as token list shows it) or its name "
                    "(when no other token has that name)")
    tr.add_argument("--json", action="store_true", help='print the token as token list --json does, plus '
                    '"changed" (false when it was already revoked)')
    tr.set_defaults(run="access:cmd_token_revoke")

    sp = sub.add_parser("export", help="write a signed evidence bundle (WACZ) of archived posts",
                        description="Write a WACZ evidence bundle of the posts named, of an article's posts "
                                    "(--article) and/or of a search's hits (--query), with their related posts' "
                                    "captures; signed with the archive's key when it has one (archiver keys create).")
    sp.add_argument("post", nargs="*", type=post_ref, help="provider/post_id, e.g. twitter/20")
    sp.add_argument("--article", type=article_id, metavar="ID", help="every archived post embedded in this article")
    sp.add_argument("--query", metavar="WORDS", help='every post a search finds: words, "phrases", prefix*')
    sp.add_argument("-o", "--output", required=True, help="the .wacz file to write (a new or regular file; "
                    "- writes the bundle to stdout and the summary to stderr)")
    sp.add_argument("--force", action="store_true", help="replace an existing -o FILE (an earlier bundle is "
                    "evidence: without it an existing file is refused)")
    sp.add_argument("--json", action="store_true", help="print the summary as indented JSON (without it: one "
                    "line of JSON)")
    sp.set_defaults(run="access:cmd_export")

    sp = sub.add_parser("verify", help="check an evidence bundle offline: exit 0 when it holds, else 2",
                        description="Check a bundle offline: every hash, the signature, each manifest against its "
                                    "WARC, the RFC 3161 timestamps, and that every file a manifest names is there. "
                                    "Prints one FAILED line per problem and exits 2, or OK and exits 0.")
    sp.add_argument("bundle", type=existing_file, help="the .wacz file to check")
    sp.add_argument("--public-key", type=existing_file, metavar="FILE",
                    help="the archive's public key (PEM), e.g. from /.well-known/archiver-signing-key.pem; "
                    "without it the key inside the bundle is used, which "
                    "proves integrity but not who signed")
    sp.add_argument("--tsa-ca", type=existing_file, metavar="FILE", action="append",
                    help="a TSA's CA certificate (PEM) to trust for the timestamps instead of those in the bundle "
                         "(repeatable)")
    sp.add_argument("--json", action="store_true", help='print {"ok", "files", "captures", "signed_by", '
                    '"timestamps", "problems", "warnings", "not_checked", ...}')
    sp.set_defaults(run="access:cmd_verify")

    sp = sub.add_parser("keys", help="the evidence signing key")
    ksub = sp.add_subparsers(dest="keys_command", required=True)
    kc = ksub.add_parser("create", help="make the ECDSA P-256 key that signs evidence bundles (mode 0600)")
    kc.add_argument("--force", action="store_true", help="replace an existing key (its public key is kept "
                    "under keys/retired/, listed by `keys show --all` and the well-known keys URL)")
    kc.add_argument("--json", action="store_true", help='print {"path", "fingerprint", "public_key_pem", '
                    '"retired"}')
    kc.set_defaults(run="access:cmd_keys_create")
    ks = ksub.add_parser("show", help="print the public key (PEM) and its fingerprint")
    ks.add_argument("--all", action="store_true", help="every key the archive has signed with: the current "
                    "one and the retired ones, with their validity")
    ks.add_argument("--json", action="store_true", help='print {"path", "fingerprint", "public_key_pem"} '
                    '(with --all: {"keys": [...], "problems": [...]})')
    ks.set_defaults(run="access:cmd_keys_show")

def health(sub: argparse._SubParsersAction) -> None:
    """Add health, restore and revert."""
    sp = sub.add_parser("health", help="the state of every embedded original, with its history")
    sp.add_argument("--article-id", type=article_id, help="only this article (default: every article)")
    sp.add_argument("--check-now", action="store_true", help="check each original now instead of reporting")
    sp.add_argument("--state", choices=("unchecked", "live", "suspect", "dead"),
                    help="every article: only those having an original in this state")
    sp.add_argument("--limit", type=at_least_one, default=1000, help="every article: at most this many (default 1000)")
    sp.add_argument("--offset", type=not_negative, default=0, help="every article: skip this many first")
    sp.add_argument("--json", action="store_true",
                    help="print what the API answers: GET /v1/health (every article: {\"articles\", \"totals\"}) "
                         "or GET /v1/articles/{id}/health (--article-id)")
    sp.set_defaults(run="health:cmd_health")

    sp = sub.add_parser("restore", help="point dead embeds and images of articles at their stable copies")
    sp.add_argument("article_ids", nargs="*", type=article_id, metavar="ARTICLE_ID",
                    help="the articles' ids (none: with --post every article embedding the post, with "
                         "--all-dead every article with dead items)")
    sp.add_argument("--post", metavar="PROVIDER/POST_ID",
                    help="restore this post in every article embedding it (or in the ids given)")
    sp.add_argument("--item", action="append", metavar="ID", help="restore this item (repeatable; one article)")
    sp.add_argument("--all-dead", action="store_true", help="restore every dead item (the default)")
    sp.add_argument("--json", action="store_true", help="print the restore report as the API's restore answers it")
    sp.set_defaults(run="health:cmd_restore")

    sp = sub.add_parser("revert", help="make an earlier version's bytes the current version again")
    sp.add_argument("article_id", type=article_id, help="the article's id")
    sp.add_argument("--to", type=at_least_one, required=True, metavar="VERSION",
                    help="the version whose bytes become current again (archiver show lists them)")
    sp.add_argument("--json", action="store_true", help="print the revert report as the API's revert answers it")
    sp.set_defaults(run="health:cmd_revert")

def search(sub: argparse._SubParsersAction) -> None:
    """Add search and reindex."""
    query = importlib.import_module("archiver.catalog.query")  # see the module's docstring
    p = sub.add_parser("search", help="search archived posts: words, \"phrases\", -exclude, OR, prefix*, "
                       "from:/provider:/lang:/status: filters, any script",
                       description="Search archived posts (their latest capture) with the query language below\n"
                                   "(the same as GET /v1/search and the search page; the README's \"Search syntax\"\n"
                                   "has examples). Quote the query; one that starts with - goes after --:\n"
                                   "  archiver search -- \"-rally summit\"",
                       epilog=query.SYNTAX_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, field in query.SearchQuery.model_fields.items():
        spelled = query.flag(name)
        default = "" if field.default is None else f" (default {field.default})"
        if spelled.positional:
            p.add_argument(name, metavar=spelled.name, nargs="?", default=argparse.SUPPRESS, help=field.description)
        else:
            p.add_argument(spelled.name, dest=name, action="append" if query.is_list(name) else "store",
                           metavar=spelled.name.lstrip("-").replace("-", "_").upper(),
                           type=KINDS.get(name, str), default=argparse.SUPPRESS, help=f"{field.description}{default}")
    p.add_argument("--json", action="store_true", help='print {"total", "hits": [...]}')
    p.set_defaults(run="search:cmd_search")

    r = sub.add_parser("reindex", help="rebuild the catalog from object storage")
    r.add_argument("--fresh", action="store_true", help="empty the rebuilt tables first (drops stale rows)")
    r.add_argument("--json", action="store_true", help="print what was indexed, by kind, as JSON")
    r.set_defaults(run="reindex:cmd_reindex")

def timestamps(sub: argparse._SubParsersAction) -> None:
    """Add timestamp."""
    sp = sub.add_parser("timestamp", help="timestamp pending captures now (RFC 3161, ARCHIVER_TSA_URLS)")
    sp.add_argument("manifest_key", nargs="*",
                    help="only these captures (posts/<provider>/<post_id>/<capture_id>.json)")
    when = sp.add_mutually_exclusive_group()
    when.add_argument("--since", help="captures since this ISO 8601 time (default: tsa_lookback ago)")
    when.add_argument("--days", type=positive_float, help="captures of the last DAYS days")
    sp.add_argument("--limit", type=at_least_one,
                    help="look at most at this many captures (default: tsa_scan_limit)")
    sp.add_argument("--force", action="store_true", help="ask a TSA that failed again without waiting")
    sp.add_argument("--json", action="store_true", help="print the run (captures, stamped, pending, ...) as JSON")
    sp.set_defaults(run="timestamp:cmd_timestamp")


def compliance(sub: argparse._SubParsersAction) -> None:
    """Add hold, release and takedown (each audited under the operating-system user)."""
    sp = sub.add_parser("hold", help="put a post under legal hold (S3 Object Lock where the bucket has it)")
    sp.add_argument("post", type=post_ref, help="provider/post_id, e.g. twitter/20")
    sp.add_argument("--reason", required=True, help="why (recorded with the hold and in the audit log)")
    sp.add_argument("--json", action="store_true", help="print the post's hold and takedown state as the API does")
    sp.set_defaults(run="compliance:cmd_hold")

    sp = sub.add_parser("release", help="lift a post's legal hold")
    sp.add_argument("post", type=post_ref, help="provider/post_id")
    sp.add_argument("--json", action="store_true", help="print the post's hold and takedown state as the API does")
    sp.set_defaults(run="compliance:cmd_release")

    sp = sub.add_parser("takedown", help="hide a post from public serving (the evidence is kept)")
    sp.add_argument("post", type=post_ref, help="provider/post_id")
    what = sp.add_mutually_exclusive_group(required=True)
    what.add_argument("--reason", help="why (required to take down; recorded and audited)")
    what.add_argument("--lift", action="store_true", help="serve the post publicly again")
    sp.add_argument("--json", action="store_true", help="print the post's hold and takedown state as the API does")
    sp.set_defaults(run="compliance:cmd_takedown")


GROUPS = (articles, demo, service, access, health, search, timestamps, compliance)


def register_all(sub: argparse._SubParsersAction) -> None:
    """Add every group's subcommands to `sub`, the `archiver` parser's subparsers."""
    for group in GROUPS:
        group(sub)
