"""`archiver search` (the catalog's search, as the API gives it) and `archiver reindex` (rebuild
the catalog from object storage).

`archiver search` has one option per SearchQuery field (archiver/catalog/query.py), made from the
field: its name (`--field-name`, or the field's Flag: `--since`), its description as the help, a
repeatable option for a list; the model's defaults and validation apply, so a value that does not
fit is one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse

from archiver.catalog.query import SearchQuery, flag
from archiver.cli.output import print_json, printable
from archiver.compliance.answers import search_answer
from archiver.config.settings import Settings
from archiver.runtime import Runtime


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver search`: print the hits (one line each, or `--json`: GET /v1/search's answer, built by the
    same function, archiver.compliance.answers.search_answer: {"total", "total_exact", "limit",
    "offset", "hits": [... each with its "compliance" state]}); returns 0. A value that does not fit the
    SearchQuery field raises InputError (exit 2)."""
    given = {name: getattr(args, name) for name in SearchQuery.model_fields if hasattr(args, name)}
    query = SearchQuery.parse(given, spell=lambda name: flag(name).name)
    with Runtime.from_settings(settings) as rt:
        answer = search_answer(rt, query)
    if args.json:
        print_json(answer)
        return 0
    total = answer["total"]
    print(f"{total}{'' if answer['total_exact'] else '+'} post{'s' if total != 1 else ''}")
    for h in answer["hits"]:  # texts, names and ids come from the platforms: each line `printable`
        who = f"@{h['handle']}" if h["handle"] else (h["author"] or "?")
        text = " ".join((h["text"] or "").split())
        print(printable(f"{h['provider']}/{h['post_id']}  {h['status']}  {who}  {h['posted_at'] or '-'}  "
                        f"{text[:100]}{'…' if len(text) > 100 else ''}", 10_000))
        if h["articles"]:
            print(printable(f"    in: {', '.join(h['articles'])}", 10_000))
        if "matched_capture_id" in h and h["matched_capture_id"] != h["capture_id"]:
            where = (f"an earlier capture, {h['matched_capture_id']}" if h["matched_capture_id"]
                     else "several captures together")
            print(printable(f"    the words matched {where} (the text shown is the latest capture's)", 10_000))
    return 0
