"""The image worker process: the loop that answers an image pool's requests (``serve``).

``archiver.capture.imagepool`` starts each worker as ``python -c "...; serve()"``. A worker reads
frames (``imaging.encode_frame``) on stdin and answers on stdout: an image's "open" and "go" (the
Pillow work of ``imaging.ImageJob``) and a capture's "cards" (its HTML card, PNG card and page,
rendered by ``cards.write.render_request``: the PNG decodes the post's media and avatar, so it runs
here, under the same time limit and memory budget as any image). A worker started ahead of need
loads the card stack (FreeType, HarfBuzz, the fonts, the Jinja2 templates) before it says "ready".
Only the worker process imports this module.
"""

from __future__ import annotations

import ctypes
import functools
import io
import math
import os
import signal
import sys
from collections.abc import Callable
from contextlib import suppress
from typing import Any, BinaryIO

from archiver.capture.cards.content import CardContent
from archiver.capture.cards.jinja import template
from archiver.capture.cards.png_card import draw_card_from
from archiver.capture.cards.write import render_request
from archiver.capture.imaging import ALARM_GRACE, Clock, ImageJob, MediaRejected, encode_frame, pillow, read_frame

# After an image whose estimate passed this many bytes, freed memory is handed back to the system.
TRIM_AFTER = 64 << 20


def _trimmer() -> Callable[[], object]:
    """glibc's malloc_trim(0) (free memory anywhere in the heap back to the system), or a no-op."""
    try:
        return functools.partial(ctypes.CDLL(None).malloc_trim, 0)
    except (OSError, AttributeError):
        return lambda: None


def _alarm(limit: float) -> None:
    """Arm SIGALRM (default action: the process ends) a little after `limit` seconds."""
    signal.alarm(max(1, math.ceil(limit)) + ALARM_GRACE)


def _write(out: BinaryIO, header: dict[str, Any], blobs: list[bytes] | tuple[bytes, ...] = ()) -> None:
    for piece in encode_frame(header, blobs):
        out.write(piece)
    out.flush()


def _finish(job: ImageJob, answer: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
    """`answer` completed with what `job.finish()` found, and the bodies to send with it. A serving copy
    byte for byte the original (an upright, web-sized JPEG with no metadata to drop) is named in
    "original", not sent back: the caller has those bytes and stores none twice."""
    original = job.data
    info, derived = job.finish()
    same = [name for name, body in derived.items() if body == original]
    answer = {**answer, "info": info, "names": [n for n in derived if n not in same], "original": same}
    return answer, [body for name, body in derived.items() if name not in same]


def _render_cards(header: dict[str, Any], blobs: list[bytes]) -> tuple[dict[str, Any], list[bytes]]:
    """A "cards" request: blobs[0] is what the capture's cards and page show (JSON:
    ``cards.write.CardSources.request``), the other blobs the pictures the PNG is drawn from, named in
    order by the header's "pictures"; the answer's blobs are the HTML card, the PNG card and the page."""
    names = header.get("pictures")
    if not isinstance(names, list) or len(names) != len(blobs) - 1 or not all(isinstance(n, str) for n in names):
        return {"ok": False, "error": "bad cards request to the image worker"}, []
    return {"ok": True}, list(render_request(blobs[0], dict(zip(names, blobs[1:], strict=True))))


def _warm_up_cards() -> None:
    """Draw a small card and load the card and page templates, so the text stack (FreeType, HarfBuzz,
    the Latin fonts) and Jinja2 are loaded before the worker says "ready", not while a capture waits."""
    template("card.html")
    template("page.html")
    draw_card_from(CardContent(provider="twitter", post_id="0", capture_id="", name="Warm up", handle="warm_up",
                               avatar_sha256=None, lang=None, note="", text="The fonts are loaded.", media=(),
                               related=(), created="", created_at="", shown="", source_lines=(), original=None,
                               captured=""), {})


def _warm_up(cards: bool = False) -> None:
    """Run one small JPEG through what a request runs (``ImageJob``: open, decode, hash, derive),
    before the worker says "ready": the plugins and codecs a first image loads (about 30 ms) are then
    loaded while no image waits, and a pool that starts its workers ahead (``ImagePool.prestart``)
    hides that time entirely. With `cards` (a worker started ahead of need) the card stack is loaded
    too (``_warm_up_cards``, about 60 ms); a worker an image waits for leaves it to its first card.
    A failure here only leaves the loading to the first image or card."""
    limits = {"mime": "image/jpeg", "format": "JPEG", "ceiling": 1 << 20, "max_frames": 1, "derive": True,
              "limit": 10.0}
    with suppress(Exception):   # an optimisation only: the first real image loads what it needs
        out = io.BytesIO()
        pillow().new("RGB", (96, 64), (120, 130, 140)).save(out, "JPEG")
        ImageJob(out.getvalue(), limits).finish()
    if cards:
        with suppress(Exception):
            _warm_up_cards()


def serve(requests: BinaryIO | None = None, answers: BinaryIO | None = None, *, cards: bool = False) -> None:
    """The worker's loop: answer "open", "go" and "cards" requests on stdin/stdout until end of input;
    with `cards` the card stack is loaded before "ready" (``_warm_up``).

    "cards" (header: "limit", "pictures"; blobs: what the cards show as JSON, then the pictures) is
    answered with {"ok": true} and the HTML card, the PNG card and the page as blobs (``_render_cards``).
    "open" (header: the ImageJob limits; one blob: the image bytes) is answered with {"ok": true,
    "estimate": bytes} or {"ok": false, "error": reason}; when its header has "go_within" (bytes of
    the memory budget the caller holds already) and the estimate is within it, the image is decoded at
    once and the answer is that of "go" with the estimate in it. "go" (header: "limit", the seconds left)
    with {"ok": true, "info": {...}, "names": [derived names], "original": [derived names]} and the
    bodies of "names" as blobs ("original" names the serving copies whose bytes are the image's own,
    not sent back), or {"ok": false, "error": reason}.
    Anything printed by a library goes to stderr: stdout is only the answers."""
    if answers is None:
        answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    requests = requests if requests is not None else sys.stdin.buffer
    pillow()   # loaded before "ready", as when it was imported with this module
    _warm_up(cards)
    _write(answers, {"ready": True, "pid": os.getpid()})
    trim = _trimmer()
    job: ImageJob | None = None
    held = 0   # the estimate of the image in hand
    while True:
        try:
            frame = read_frame(requests)
        except ValueError:
            return
        if frame is None:
            return
        header, blobs = frame
        answer: dict[str, Any]
        bodies: list[bytes] = []
        try:
            if header.get("op") == "open" and len(blobs) == 1:
                if job is not None:
                    job.close()
                job = None
                _alarm(float(header.get("limit", 0)))
                job = ImageJob(blobs[0], header)
                held = job.estimate
                answer = {"ok": True, "estimate": job.estimate}
                within = header.get("go_within")
                if isinstance(within, int) and not isinstance(within, bool) and job.estimate <= within:
                    # The caller holds this much of the budget already: decode now, one round trip.
                    job, (answer, bodies) = None, _finish(job, answer)
            elif header.get("op") == "cards" and blobs:
                if job is not None:
                    job.close()
                job = None
                _alarm(float(header.get("limit", 0)))
                answer, bodies = _render_cards(header, blobs)
            elif header.get("op") == "go" and job is not None:
                job.clock = Clock(float(header.get("limit", job.clock.limit)))   # the wait for "go" is not counted
                _alarm(job.clock.limit)
                job, (answer, bodies) = None, _finish(job, {"ok": True})
            else:
                answer = {"ok": False, "error": f"bad request to the image worker: {header.get('op')!r}"}
        except MediaRejected as exc:
            job = None
            answer = {"ok": False, "error": exc.reason}
        except Exception as exc:   # our own bug, not the image's: say so rather than die
            job = None
            answer = {"ok": False, "error": f"image worker error: {type(exc).__name__}: {str(exc)[:200]}"}
        finally:
            signal.alarm(0)
        if job is None and held > TRIM_AFTER:   # an idle worker does not keep a big image's memory
            held = 0
            trim()
        _write(answers, answer, bodies)
