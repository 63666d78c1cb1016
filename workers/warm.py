"""What every worker process would otherwise build on its first capture, built once in the Celery
worker's main process before it forks its pool, so each pool process starts with it (copy-on-write).

Measured per pool process on its first tweet capture (bench_peers, cProfile): the card templates'
compilation (about 90 ms), the TLS context (about 16 ms: the CA bundle) and the card fonts (about
10 ms). Only plain objects are made here: no connection, thread or child process, which a fork would
share between processes.
"""

from __future__ import annotations

import logging
import time

from archiver.capture.cards.jinja import environment, template
from archiver.capture.cards.png_card import render_card_png
from archiver.capture.fetch import ssl_context
from archiver.config.settings import Settings

log = logging.getLogger(__name__)

# A capture's manifest as small as a card can be drawn from: enough to load the Latin faces.
_SAMPLE = {"provider": "twitter", "post_id": "1", "status": "archived", "text": "Warm",
           "author": {"name": "A", "handle": "a"}, "captured_at": "2026-01-01T00:00:00Z"}


def warm(settings: Settings) -> float:
    """Build the per-process caches of the capture path; returns the seconds it took. A failure is
    logged and left to the first capture (which builds what it needs itself), never raised."""
    start = time.perf_counter()
    try:
        for name in environment().list_templates(extensions=["html"]):
            template(name)  # compiled (or loaded from the bytecode cache) and kept as captures ask for it
        render_card_png(dict(_SAMPLE), None)  # type: ignore[arg-type] # the sample names no stored object
        ssl_context(settings.fetch_ca_bundle)
    except Exception as exc:  # an optimisation only: the first capture does it otherwise
        log.warning("worker warm-up skipped: %s: %s", type(exc).__name__, exc)
    return time.perf_counter() - start
