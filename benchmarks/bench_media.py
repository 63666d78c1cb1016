"""Images per second through fetch -> verify -> derive -> store, beside the bare fetch + sha256 + put.

Serves distinct photo-like JPEGs from a loopback origin and archives them with the real
`archive_media` into a local directory and into SeaweedFS (started by the test harness), with the
same thread count for both paths. The aim: the full path at no less than half the bare rate with
derivatives on. The full path without derivatives is printed too: the difference is the cost of
the serving copies (for these upright, metadata-free JPEGs, the thumbnail alone: the web copy is
the original's own key). CPU figures count the image worker processes too; on a shared machine
they are steadier than the rates.

    .venv/bin/python benchmarks/bench_media.py [--count 96] [--threads 8] [--size 1200x800] [--store both] [--exif]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from PIL import Image, ImageChops

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archiver.capture import imagepool  # noqa: E402
from archiver.capture.fetch import Fetcher  # noqa: E402
from archiver.capture.media import archive_media  # noqa: E402
from archiver.config.settings import Settings  # noqa: E402
from archiver.storage.base import ObjectStore  # noqa: E402
from archiver.storage.layout import blob_key  # noqa: E402
from archiver.storage.local import LocalStore  # noqa: E402
from archiver.storage.s3 import S3Store  # noqa: E402


def camera_exif() -> bytes:
    """An EXIF block as a camera writes one: make, model, serial, time and a GPS position."""
    exif = Image.Exif()
    exif.update({0x010F: "Bench", 0x0110: "Camera 1", 0x0132: "2026:11:30 10:00:00", 0xA431: "SN-0042"})
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    return exif.tobytes()


def photos(count: int, size: tuple[int, int], exif: bool = False) -> list[bytes]:
    """Distinct JPEGs with gradients and noise, sized and compressed like news photos; with `exif`,
    each carries a camera's EXIF with GPS (so the article copy without metadata is stored apart)."""
    base = Image.merge("RGB", (Image.linear_gradient("L").resize(size),
                               Image.radial_gradient("L").resize(size),
                               Image.linear_gradient("L").rotate(90).resize(size)))
    noise = Image.merge("RGB", [Image.effect_noise(size, 12)] * 3)
    out = []
    for i in range(count):
        im = ImageChops.add(ImageChops.offset(base, i * 37, i * 11), noise, scale=1.6)
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=85, **({"exif": camera_exif()} if exif else {}))
        out.append(buf.getvalue())
    return out


def serve(bodies: list[bytes]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            try:
                body = bodies[int(self.path.strip("/").split(".")[0])]
            except (ValueError, IndexError):
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


def worker_cpu() -> dict[int, float]:
    """CPU seconds used so far by each image worker process of this process's pools (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    found: dict[int, float] = {}
    with imagepool._POOLS_LOCK:
        pools = list(imagepool._POOLS.values())
    for pool in pools:
        for pid in pool.worker_pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            found[pid] = (int(fields[11]) + int(fields[12])) / tick   # utime, stime
    return found


def rate(work: Callable[[int], None], count: int, threads: int) -> tuple[float, float]:
    """(images per second, CPU milliseconds per image). The CPU figure is this process's (origin,
    fetcher, client) plus its image workers' (Pillow), and does not move with other load on the
    machine as wall time does."""
    w0 = worker_cpu()
    t0, c0 = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(count)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    w1 = worker_cpu()
    cpu += sum(used - w0.get(pid, 0.0) for pid, used in w1.items())
    return count / wall, cpu / count * 1000


def run(name: str, make_store: Callable[[str], ObjectStore], base: str, settings: Settings, count: int,
        threads: int) -> None:
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=threads))
    bare_store = make_store("bare")

    def bare(i: int) -> None:
        resp = session.get(f"{base}/{i}.jpg", timeout=10)
        resp.raise_for_status()
        digest = hashlib.sha256(resp.content).hexdigest()
        bare_store.put(blob_key(digest), resp.content, content_type="image/jpeg", if_none_match=True)

    full_store = make_store("full")
    fetcher = Fetcher(settings)
    failures: list[str] = []

    def full(i: int) -> None:
        rec = archive_media(f"{base}/{i}.jpg", kind="image", fetcher=fetcher, store=full_store,
                            settings=settings)
        if rec.status != "archived" or set(rec.derived) != {"article.jpg", "web.jpg", "thumb.webp"}:
            failures.append(f"{i}: {rec.status} {rec.error}")

    verify_store = make_store("verify")
    verify_settings = settings.replace(media_derivatives=False)

    def verify_only(i: int) -> None:
        rec = archive_media(f"{base}/{i}.jpg", kind="image", fetcher=fetcher, store=verify_store,
                            settings=verify_settings)
        if rec.status != "archived":
            failures.append(f"{i}: {rec.status} {rec.error}")

    warm_store = make_store("warm")   # the image workers started (a running archiver keeps them), not timed
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda i: archive_media(f"{base}/{i}.jpg", kind="image", fetcher=fetcher, store=warm_store,
                                              settings=settings), range(min(count, threads))))
    (bare_rate, bare_cpu), (full_rate, full_cpu) = rate(bare, count, threads), rate(full, count, threads)
    verify_rate, verify_cpu = rate(verify_only, count, threads)
    if failures:
        raise SystemExit(f"{name}: {len(failures)} images not archived, e.g. {failures[0]}")
    print(f"{name:10s} bare fetch+sha256+put {bare_rate:6.1f} img/s ({bare_cpu:5.1f} CPU ms/img)   "
          f"full path {full_rate:6.1f} img/s ({full_cpu:5.1f})   ratio {full_rate / bare_rate:.2f} "
          f"(CPU {bare_cpu / full_cpu:.2f}; aim >= 0.50)   without derivatives {verify_rate:6.1f} img/s "
          f"({verify_cpu:5.1f}) ratio {verify_rate / bare_rate:.2f} (CPU {bare_cpu / verify_cpu:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=96)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--size", default="1200x800", help="WIDTHxHEIGHT of the test photos")
    parser.add_argument("--store", choices=["local", "s3", "both"], default="both")
    parser.add_argument("--exif", action="store_true",
                        help="camera EXIF with GPS in every photo: the article copy without it is a third object")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    bodies = photos(args.count, (width, height), exif=args.exif)
    average = sum(map(len, bodies)) // args.count // 1024
    print(f"{args.count} JPEGs of {width}x{height}{' with camera EXIF' if args.exif else ''}, "
          f"{average} KB on average, {args.threads} threads")
    server = serve(bodies)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    settings = Settings(fetch_allow=f"127.0.0.1:{server.server_address[1]}", host_concurrency=args.threads,
                        host_rate_per_second=1e6)
    with ExitStack() as stack:
        if args.store in ("local", "both"):
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-media-")))
            run("local", lambda sub: LocalStore(tmp / sub, "http://127.0.0.1/media"), base, settings,
                args.count, args.threads)
        if args.store in ("s3", "both"):
            from tests.harness.services import start_seaweedfs

            weed = stack.enter_context(start_seaweedfs())
            run("seaweedfs", lambda sub: S3Store(weed.client(), weed.make_bucket(), sub, "http://127.0.0.1/media",
                                                 weed.endpoint_url), base, settings, args.count, args.threads)
    server.shutdown()


if __name__ == "__main__":
    main()
