"""`archiver reindex`: rebuild the catalog from object storage, which stays the truth."""

from __future__ import annotations

import argparse
import sys

from archiver.cli.output import json_text
from archiver.config.settings import Settings
from archiver.runners.reindex import reindex
from archiver.runtime import Runtime


def cmd_reindex(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver reindex`: rebuild the catalog from object storage (`--fresh`: its tables emptied first) and
    print what was indexed; returns 0."""
    with Runtime.from_settings(settings) as rt:
        rep = reindex(rt, fresh=args.fresh)
    if args.json:
        sys.stdout.write(json_text(rep.to_json(), indent=None) + "\n")
    else:
        print(f"reindexed {rt.store.describe()} into {rt.catalog.describe()}: " +
              ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in rep.to_json().items()))
    return 0
