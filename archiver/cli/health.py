"""CLI of the link-health area: `archiver health`, `archiver restore` and `archiver revert`.

`restore` and `revert` print, for the version they wrote, the entry `archiver show --json` prints
for it; their actions are audit-logged under the local user's name.
"""

from __future__ import annotations

import argparse
from typing import Any

from archiver.article.versions import DamagedData, as_damaged
from archiver.auth import Principal
from archiver.cli.output import cli_principal, print_json, printable
from archiver.config.settings import Settings
from archiver.errors import InputError
from archiver.health.originals import article_health, check_articles, health_answer
from archiver.health.restore import auto_restore, parse_post, restore, restore_many, revert
from archiver.health.state import STATES
from archiver.runtime import Runtime
from archiver.steps.prepare import check_article_id


def _principal() -> Principal:
    return cli_principal("admin")


def _print(obj: dict[str, Any], as_json: bool, text: str) -> None:
    """`obj` as JSON, or `text` with each line `printable` (URLs and details come from the article and
    the origins: their control characters are escaped)."""
    if as_json:
        print_json(obj)
    else:
        print("\n".join(printable(line, 10_000) for line in text.split("\n")))


def cmd_health(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver health`: print the link health of one article's originals (`--article-id`: what GET
    /v1/articles/{id}/health answers) or of every article (what GET /v1/health answers, `--state`,
    `--limit`, `--offset` as there); with `--check-now`, probe each original now first and auto-restore
    for policy sites. Returns 0; InputError for a malformed or unknown article."""
    with Runtime.from_settings(settings) as rt:
        if args.article_id:
            rep = article_health(rt, check_article_id(args.article_id), check_now=args.check_now)
            if args.check_now:
                for dead in {i["url"] for i in rep["items"] if i["state"] == "dead"}:
                    auto_restore(rt, dead)
            text = f"{rep['article_id']}: " + _counts(rep["summary"]) + "".join(
                f"\n  {i.get('label') or i['state']:<9} {i['kind']:<5} {i['url']}"
                + (f"  ({i['last_detail']})" if i["last_detail"] else "") for i in rep["items"])
            _print(rep, args.json, text)
            return 0
        if args.check_now:
            ids = [r["article_id"] for r in rt.catalog.query("SELECT article_id FROM articles ORDER BY article_id")]
            checked = check_articles(rt, ids)  # each original shared by articles probed once
            for dead in {i["url"] for a in checked for i in a["items"] if i["state"] == "dead"}:
                auto_restore(rt, dead)
        answer = health_answer(rt, state=args.state, limit=args.limit, offset=args.offset)
    lines = [f"{r['article_id']}: " + _counts(r) + (f"  ({r['needs_restore']} to restore)" if r["needs_restore"]
                                                    else "") for r in answer["articles"]]
    total = answer["totals"]
    lines.append(f"all articles: {_counts(total)}" + (f", {total['needs_restore']} to restore"
                                                        if total["needs_restore"] else ""))
    _print(answer, args.json, "\n".join(lines) if answer["articles"] else "no articles")
    return 0


def _counts(counts: dict[str, Any]) -> str:
    """"2 dead, 3 live": the states with items, in STATES order."""
    return ", ".join(f"{counts[s]} {s}" for s in STATES if counts.get(s)) or "no items"


def _version_line(rep: dict[str, Any]) -> str:
    v = rep["version"]
    state = "new" if rep["new_version"] else "unchanged"
    return f"* v{v['version']}  {v['created']}  {v['reason']:<8} {v['path']}  ({state})"


def _item_lines(rep: dict[str, Any]) -> list[str]:
    return [f"  {i['status']:<8} {i['kind']:<5} {i['url']}" + (f"  ({i['error']})" if i["error"] else "")
            for i in rep["items"]]


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver restore`: restore the `--item`s (and the items of `--post`; with `--all-dead` or none
    given, every dead one) of each article named into a new version and print it with each item's
    outcome. With no article named, `--post PROVIDER/ID` restores that post in every article embedding
    it and `--all-dead` every article with dead items, ending with a summary line. Returns the common
    exit codes: 0 when it ran (an item that could not be restored says so in its status, as `archive`
    does), 2 when an article named could not be restored at all, 1 when stored data was found damaged
    (DamagedData: one line naming the object, for one article)."""
    ids = list(getattr(args, "article_ids", None) or ([args.article_id] if getattr(args, "article_id", None) else []))
    post = parse_post(args.post) if getattr(args, "post", None) else None
    if not ids and post is None and not args.all_dead:
        raise InputError("name the articles to restore, or restore --post PROVIDER/POST_ID or --all-dead "
                         "across every article")
    if args.item and len(ids) != 1:
        raise InputError("--item names an item of one article: give exactly one article id with it")
    with Runtime.from_settings(settings) as rt:
        if len(ids) == 1:
            try:
                rep = restore(rt, check_article_id(ids[0]), item_ids=args.item or None, all_dead=args.all_dead,
                              principal=_principal(), post=post)
            except DamagedData as exc:
                raise as_damaged(exc) from None
            _print(rep, args.json, "\n".join([_version_line(rep), *_item_lines(rep)]))
            return 0
        answer = restore_many(rt, [check_article_id(a) for a in ids], item_ids=args.item or None,
                              all_dead=args.all_dead, post=post, principal=_principal())
    lines = []
    for rep in answer["articles"]:
        if "error" in rep:
            lines.append(f"! {rep['article_id']}: {'damaged stored data: ' if rep['damaged'] else ''}{rep['error']}")
        else:
            lines += [f"{rep['article_id']}: {_version_line(rep).lstrip('* ')}", *_item_lines(rep)]
    n = answer["summary"]
    lines.append(f"{n['articles']} article{'s' if n['articles'] != 1 else ''}: {n['new_versions']} new "
                 f"version{'s' if n['new_versions'] != 1 else ''}, {n['unchanged']} unchanged, {n['failed']} failed; "
                 f"{n['items_restored']} item{'s' if n['items_restored'] != 1 else ''} restored, "
                 f"{n['items_failed']} failed, {n['items_taken_down']} taken down")
    _print(answer, args.json, "\n".join(lines))
    if any(r.get("damaged") for r in answer["articles"]):
        return 1
    return 2 if n["failed"] else 0


def cmd_revert(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver revert`: write version `--to`'s bytes as a new current version and print it; returns 0.
    InputError for an unknown article or version; DamagedData (exit 1, one line naming the object) when
    version `--to`'s record or its stored bytes are missing or fail their SHA-256 (the attempt is
    audited); a damaged record of another version does not stop it."""
    with Runtime.from_settings(settings) as rt:
        try:
            rep = revert(rt, check_article_id(args.article_id), args.to, principal=_principal())
        except DamagedData as exc:
            raise as_damaged(exc) from None
    if rep["new_version"]:
        # "= v<N>" only when the bytes are v<N>'s: a taken-down post's card is written as the withheld notice
        note = (f"  = v{args.to}, but {rep['withheld']} (the withheld notice in its place)" if rep.get("withheld")
                else f"  = v{args.to}")
    else:
        note = f"  (the current version already has v{args.to}'s bytes: nothing written)"
    _print(rep, args.json, _version_line(rep) + note)
    return 0
