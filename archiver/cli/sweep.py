"""`archiver sweep`: one round of the sweeper by hand (the beat runs it every sweep_interval seconds)."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from archiver.cli.output import print_json
from archiver.config.settings import Settings
from archiver.dates import utcnow
from archiver.runners.intake import Intake
from archiver.runners.queue import QUEUE
from archiver.runners.sweep import queue_drained_at, sweep
from archiver.runtime import Runtime


def cmd_sweep(args: argparse.Namespace, settings: Settings) -> int:
    """Queue what stuck articles miss onto the workers' queue and print what was queued; returns 0.
    ArchiverError when the broker cannot be reached (nothing is marked swept then)."""
    with Runtime.from_settings(settings) as rt, Intake(rt) as intake:
        client = intake.reachable_broker()
        now = utcnow()
        drained = queue_drained_at(client, QUEUE, now)
        if drained is None:
            print("the workers' queue has not been seen empty yet: what waits in it is not lost; try later")
            return 0
        queue = intake.tasks()
        report = sweep(rt, lambda task, a, kw: queue.send(task, a, kw), now=now, limit=args.limit,
                       queued_before=drained)
    if args.json:
        print_json(asdict(report))
        return 0
    queued = ", ".join(f"{n} {task.removeprefix('archiver.')}" for task, n in sorted(report.queued.items()))
    print(f"looked at {report.articles} stuck article(s); queued {queued or 'nothing'}")
    for aid in report.unreadable:
        print(f"  {aid}: a stored record cannot be read (see the log)")
    return 0
