"""Image work bounded in time and memory for real: hostile files generated here (a progressive JPEG
repeating one scan 20,000 times, a valid but deeply progressive JPEG, a PNG with a huge palette) end
`rejected` within the image time limit, in-process, through `archiver archive` and on a real Celery
worker; eight 9459x9459 RGBA PNGs in one article all end archived while the processes doing the
work stay under the configured memory budget."""

from __future__ import annotations

import functools
import io
import json
import os
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from archiver.article.versions import versions
from archiver.capture.fetch import Fetcher
from archiver.capture.imagepool import ImagePool, MemoryBudget
from archiver.capture.imaging import ImageJob, gif_frame_count
from archiver.capture.media import archive_media, inspect_image
from archiver.config.settings import Settings, load_settings
from archiver.runtime import Runtime
from archiver.steps.prepare import load_plan
from archiver.steps.results import load_result
from archiver.storage.layout import sha256_hex, source_key
from archiver.storage.local import LocalStore
from archiver.testing.fixture_origin import FixtureOrigin, make_image

ROOT = Path(__file__).resolve().parent.parent
ARCHIVER = [sys.executable, "-m", "archiver.cli"]
LIMIT = 1.5        # the image time limit these tests run under, seconds (deep.jpg takes 3 s here)
SLACK = 2.0        # what a rejection may take beyond it (starting a worker, the fetch, the pipe)
GIB = 1 << 30

pytestmark = pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")


# --- hostile and heavy files -------------------------------------------------------------------
def _segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def _scans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each scan of a JPEG: its SOS segment and the entropy-coded data after it."""
    found, pos = [], 2
    while pos < len(data) and data[pos + 1] != 0xD9:
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        end = pos + 2 + length
        if data[pos + 1] == 0xDA:
            while True:   # to the next marker that is not a stuffed 0xFF00 or a restart marker
                end = data.index(b"\xff", end)
                if data[end + 1] != 0 and not 0xD0 <= data[end + 1] <= 0xD7:
                    break
                end += 2
            found.append((pos, end))
        pos = end
    return found


def scan_bomb_jpeg(repeats: int = 20_000) -> bytes:
    """A 4096x4096 progressive JPEG whose luma refinement scan comes `repeats` times (about 760 KB):
    each repeat costs a pass over 262,144 blocks, minutes in all."""
    out = io.BytesIO()
    Image.new("RGB", (4096, 4096), (128, 128, 128)).save(out, "JPEG", progressive=True, quality=90)
    data = out.getvalue()
    for start, end in _scans(data):
        ns = data[start + 4]
        comp, (ss, _, ahal) = data[start + 5], data[start + 5 + 2 * ns:start + 8 + 2 * ns]
        if ns == 1 and comp == 1 and ss > 0 and ahal >> 4:   # luma, AC, a refinement (Ah > 0)
            return data[:end] + data[start:end] * repeats + data[end:]
    raise AssertionError("Pillow's progressive JPEG has no luma refinement scan")


class _Bits:
    """An entropy-coded segment written bit by bit (0xFF bytes stuffed, the last byte padded with ones)."""

    def __init__(self) -> None:
        self.out, self.acc, self.n = bytearray(), 0, 0

    def put(self, value: int, length: int) -> None:
        for i in range(length - 1, -1, -1):
            self.acc, self.n = (self.acc << 1) | ((value >> i) & 1), self.n + 1
            if self.n == 8:
                self.out += b"\xff\x00" if self.acc == 0xFF else bytes((self.acc,))
                self.acc = self.n = 0

    def bytes(self) -> bytes:
        if self.n:
            self.put((1 << (8 - self.n)) - 1, 8 - self.n)
        return bytes(self.out)


def deep_progressive_jpeg(size: int = 9459, components: int = 4) -> bytes:
    """A valid progressive JPEG (flat grey, size x size, 4 components: CMYK) whose AC coefficients come
    in the deepest progression the standard allows: for each component and each of three spectral
    bands a first scan at Al=13 and thirteen refinement scans, 168 AC scans over 1.4 million blocks
    each (about 700 KB: the end-of-band runs take almost no room; many seconds to decode, where
    Pillow's own progressive file of the same image takes a fraction of one)."""
    blocks = ((size + 7) // 8) ** 2
    ids = range(1, components + 1)
    frame = struct.pack(">BHHB", 8, size, size, components) + b"".join(bytes((c, 0x11, 0)) for c in ids)
    parts = [b"\xff\xd8", _segment(0xDB, b"\x00" + b"\x01" * 64), _segment(0xC2, frame),
             # DC table 0: one symbol, category 0, code "0"; AC table 0: EOB runs EOB0..EOB14, 4-bit codes.
             _segment(0xC4, b"\x00" + bytes([1] + [0] * 15) + b"\x00"),
             _segment(0xC4, b"\x10" + bytes([0, 0, 0, 15] + [0] * 12) + bytes(r << 4 for r in range(15)))]
    bits = blocks * components   # every DC difference is 0: one "0" code a block, then padding ones
    parts.append(_segment(0xDA, bytes([components]) + b"".join(bytes((c, 0)) for c in ids) + b"\x00\x00\x00"))
    parts.append(bytes(bits // 8) + (bytes(((1 << (8 - bits % 8)) - 1,)) if bits % 8 else b""))
    ac, left = _Bits(), blocks
    while left:   # the whole scan is end-of-band runs of up to 32,767 blocks
        run = min(left, 32767)
        r = run.bit_length() - 1
        ac.put(r, 4)
        ac.put(run - (1 << r), r)
        left -= run
    runs = ac.bytes()
    for c in ids:
        for ss, se in ((1, 21), (22, 42), (43, 63)):
            parts.append(_segment(0xDA, bytes((1, c, 0x00, ss, se, 13))) + runs)
            for ah in range(13, 0, -1):
                parts.append(_segment(0xDA, bytes((1, c, 0x00, ss, se, (ah << 4) | (ah - 1)))) + runs)
    parts.append(b"\xff\xd9")
    return b"".join(parts)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(ihdr: bytes, idat: bytes, *extra: bytes) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + b"".join(extra) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def huge_palette_png(size: int = 9459, entries: int = 100_000) -> bytes:
    """A paletted size x size PNG whose PLTE chunk declares `entries` colours (a PNG may have 256)
    and a tRNS chunk as long, over pixels that are all index 0."""
    comp = zlib.compressobj(9)
    rows = (b"\0" + bytes(size)) * 1000
    idat = b"".join(comp.compress(rows) for _ in range(size // 1000)) + comp.compress(
        (b"\0" + bytes(size)) * (size % 1000)) + comp.flush()
    palette = (bytes(range(256)) * (3 * entries // 256 + 1))[:3 * entries]
    return _png(struct.pack(">IIBBBBB", size, size, 8, 3, 0, 0, 0), idat, _chunk(b"PLTE", palette),
                _chunk(b"tRNS", b"\x80" * entries))


@functools.cache
def huge_rgba_pngs(count: int, size: int = 9459) -> list[bytes]:
    """`count` different RGBA PNGs of size x size (358 MB decoded each, about 350 KB compressed):
    transparent black but for the last row, which differs from one image to the next."""
    comp = zlib.compressobj(9)
    row = b"\0" + bytes(4 * size)
    prefix = b"".join(comp.compress(row * 500) for _ in range((size - 1) // 500))
    prefix += comp.compress(row * ((size - 1) % 500))
    ihdr = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    images = []
    for i in range(count):
        tail = comp.copy()
        last = b"\0" + bytes((i * 30 % 256, 80, 160, 255)) * size
        images.append(_png(ihdr, prefix + tail.compress(last) + tail.flush()))
    return images


# --- the budget -------------------------------------------------------------------------------------
def test_budget_serves_in_order_and_lets_an_oversized_amount_run_alone() -> None:
    budget = MemoryBudget(100)
    log: list[str] = []
    release = {name: threading.Event() for name in "abcd"}

    def job(name: str, amount: int) -> None:
        with budget.hold(amount):
            log.append(f"+{name}:{budget.used}")
            release[name].wait(10)
        log.append(f"-{name}")

    def start(name: str, amount: int) -> threading.Thread:
        t = threading.Thread(target=job, args=(name, amount))
        t.start()
        time.sleep(0.1)
        return t

    threads = [start("a", 60), start("b", 60), start("c", 10)]
    assert log == ["+a:60"]                   # b does not fit; c would, but came after b
    release["a"].set()
    time.sleep(0.2)
    assert log[:3] == ["+a:60", "-a", "+b:60"] and "+c:70" in log   # b, then c beside it
    threads.append(start("d", 500))           # more than the whole budget: waits until nothing is held
    assert not any(e.startswith("+d") for e in log)
    release["b"].set()
    release["c"].set()
    time.sleep(0.2)
    assert log[-1] == "+d:500" and budget.peak == 500
    release["d"].set()
    for t in threads:
        t.join(5)
    assert budget.used == 0


def test_gif_frames_counted_without_decoding() -> None:
    frames = [Image.new("RGB", (40, 30), (i * 30, 255 - i * 30, 7 * i)) for i in range(7)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0, comment=b"x" * 600)
    data = out.getvalue()
    assert gif_frame_count(data, 1000) == 7 == Image.open(io.BytesIO(data)).n_frames
    assert gif_frame_count(data, 3) == 4          # stops once past the cap
    junk = data[:-1] + b"\x07\x07" + data[-1:]    # stray bytes before the trailer are skipped, as by Pillow
    assert gif_frame_count(junk, 1000) == 7 == Image.open(io.BytesIO(junk)).n_frames


# --- hostile files end rejected within the limit ----------------------------------------------------
HOSTILE = {"scan-bomb.jpg": scan_bomb_jpeg, "deep.jpg": deep_progressive_jpeg, "palette.png": huge_palette_png}


@pytest.fixture(scope="module")
def hostile() -> dict[str, bytes]:
    files = {name: make() for name, make in HOSTILE.items()}
    assert 650_000 < len(files["scan-bomb.jpg"]) < 800_000 and len(files["deep.jpg"]) < 800_000
    return files


@pytest.fixture
def origin(hostile: dict[str, bytes]) -> Iterator[FixtureOrigin]:
    images = {f"/img/{name}": body for name, body in hostile.items()}
    images["/img/ok.jpg"] = make_image("fine", 640, 400)
    with FixtureOrigin(images=images) as o:
        yield o


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_image_rejected_within_the_time_limit(name: str, origin: FixtureOrigin, tmp_path: Path) -> None:
    settings = Settings(home=str(tmp_path), fetch_allow="127.0.0.1", fetch_retries=0, media_time_limit=LIMIT)
    fetcher = Fetcher(settings)
    store = LocalStore(tmp_path / "objects", "http://127.0.0.1:8080/media")
    inspect_image(make_image("warm-up", 32, 32), settings)   # a worker is running: time only the image
    started = time.monotonic()
    rec = archive_media(origin.url(f"/img/{name}"), kind="image", fetcher=fetcher, store=store, settings=settings)
    elapsed = time.monotonic() - started
    assert rec.status == "rejected", (rec.status, rec.error)
    assert elapsed < LIMIT + SLACK, f"{name}: {elapsed:.1f} s"
    if name.endswith(".jpg"):   # these two decode for seconds to minutes: the worker was killed
        assert rec.error == f"image decoding exceeded {LIMIT:g} s", rec.error
    assert list(store.list("blobs/")) == [] and list(store.list("derived/")) == []
    # The killed worker was replaced: the next image is archived as usual.
    ok = archive_media(origin.url("/img/ok.jpg"), kind="image", fetcher=fetcher, store=store, settings=settings)
    assert ok.status == "archived" and set(ok.derived) == {"article.jpg", "web.jpg", "thumb.webp"}
    fetcher.close()


def test_waiting_for_the_budget_does_not_count_against_the_time_limit() -> None:
    """An image that waits longer than its time limit for memory budget still gets its full limit."""
    pool = ImagePool(2, 100 << 20)
    limits = {"mime": "image/jpeg", "format": "JPEG", "ceiling": 89_478_485, "max_frames": 1000, "derive": True}
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(pool.run(make_image("waits", 1200, 800), limits, 1.0))
        except Exception as exc:
            outcome.append(exc)

    try:
        with pool.budget.hold(100 << 20):   # the whole budget, held by someone else for 2.5 s
            waiter = threading.Thread(target=run)
            waiter.start()
            time.sleep(2.5)
            assert not outcome, outcome   # still waiting: opened, not decoded
        waiter.join(10)
        assert len(outcome) == 1 and not isinstance(outcome[0], Exception), outcome
    finally:
        pool.close()


def test_a_decoder_outlives_its_parent_by_seconds_only(hostile: dict[str, bytes], tmp_path: Path) -> None:
    """A process killed while its image worker decodes (a Celery child at its hard time limit) leaves
    no decoder running for minutes: the worker ends itself shortly after the image's time limit."""
    bomb = tmp_path / "bomb.jpg"
    bomb.write_bytes(hostile["scan-bomb.jpg"])
    script = ("import sys; from pathlib import Path; from archiver.capture.media import inspect_image; "
              "from archiver.config.settings import Settings; "
              "inspect_image(Path(sys.argv[1]).read_bytes(), Settings(media_time_limit=2.0))")
    parent = subprocess.Popen([sys.executable, "-c", script, str(bomb)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 10
        while len(_pids_under(parent.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = set(_pids_under(parent.pid)) - {parent.pid}
        assert workers, "no image worker was started"
        time.sleep(0.5)
    finally:
        parent.kill()
        parent.wait()
    killed = time.monotonic()
    while time.monotonic() < killed + 2.0 + 5 + 3 and any(_running(pid) for pid in workers):
        time.sleep(0.1)
    assert not any(_running(pid) for pid in workers), "the image worker kept decoding after its parent died"


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rindex(b")") + 2:stat.rindex(b")") + 3] != b"Z"


def _pids_under(root: int) -> dict[int, int]:
    """The process ids of `root`'s descendants (and itself), with their resident memory in bytes."""
    parents: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_bytes()
            except OSError:
                continue
            parents.setdefault(int(stat[stat.rindex(b")") + 2:].split()[1]), []).append(int(entry.name))
    found, todo, page = {}, [root], os.sysconf("SC_PAGE_SIZE")
    while todo:
        pid = todo.pop()
        try:
            found[pid] = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
        except (OSError, ValueError, IndexError):
            continue
        todo += parents.get(pid, [])
    return found


class TreeMemory:
    """Samples the summed resident memory of a process and its descendants every 10 ms."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self.most_processes = pid, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            tree = _pids_under(self.pid)
            self.peak = max(self.peak, sum(tree.values()))
            self.most_processes = max(self.most_processes, len(tree))
            self._stop.wait(0.01)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def archive_cli(article: Path, tmp_path: Path, origin: FixtureOrigin, timeout: float,
                **settings: str) -> tuple[subprocess.CompletedProcess[str], float, TreeMemory]:
    env = {**os.environ, "ARCHIVER_HOME": str(tmp_path / "home"), "ARCHIVER_FETCH_ALLOW": "127.0.0.1",
           **{f"ARCHIVER_{k.upper()}": v for k, v in settings.items()}}
    started = time.monotonic()
    proc = subprocess.Popen([*ARCHIVER, "archive", str(article), "--base-url", origin.url("/story"), "--json"],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    memory = TreeMemory(proc.pid)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        memory.stop()
        if proc.poll() is None:
            proc.kill()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), time.monotonic() - started, memory


def test_archive_cli_rejects_the_hostile_images_in_time(origin: FixtureOrigin, tmp_path: Path) -> None:
    names = [*HOSTILE, "ok.jpg"]
    article = tmp_path / "story.html"
    article.write_text("<html><body>\n" + "".join(f'<p><img src="{origin.url(f"/img/{n}")}"></p>\n' for n in names)
                       + "</body></html>\n")
    out, elapsed, _ = archive_cli(article, tmp_path, origin, timeout=120, media_time_limit=str(LIMIT),
                                  capture_threads="4", media_workers="2", archive_deadline="60")
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    by_url = {img["url"].rsplit("/", 1)[1]: img for img in json.loads(out.stdout)["images"]}
    assert {n: by_url[n]["status"] for n in names} == {**dict.fromkeys(HOSTILE, "rejected"), "ok.jpg": "archived"}
    assert by_url["scan-bomb.jpg"]["error"] == by_url["deep.jpg"]["error"] == f"image decoding exceeded {LIMIT:g} s"
    # Two workers share three hostile files: at most two limits back to back, not minutes.
    assert elapsed < 2 * LIMIT + 10, f"{elapsed:.1f} s"


# --- the memory budget ------------------------------------------------------------------------------
def _vm(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for {pid}")


def _rotated_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    Image.radial_gradient("L").resize((4000, 3000)).convert("RGB").save(out, "JPEG", quality=80,
                                                                        exif=exif.tobytes())
    return out.getvalue()


def _paletted_png() -> bytes:
    im = Image.linear_gradient("L").resize((6000, 5000)).convert("P")
    out = io.BytesIO()
    im.save(out, "PNG", transparency=0)
    return out.getvalue()


def _animated_gif() -> bytes:
    frames = [Image.radial_gradient("L").resize((1500, 1200)).point(lambda v, i=i: (v + 40 * i) % 256).convert("P")
              for i in range(6)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0)
    return out.getvalue()


def _progressive_jpeg() -> bytes:
    out = io.BytesIO()
    Image.radial_gradient("L").resize((6000, 4000)).convert("RGB").save(out, "JPEG", quality=85, progressive=True)
    return out.getvalue()


def _rgba_webp() -> bytes:
    out = io.BytesIO()
    Image.radial_gradient("L").resize((4000, 3000)).convert("RGBA").save(out, "WEBP", quality=80, method=0)
    return out.getvalue()


def test_an_image_decodes_only_under_its_estimate_held() -> None:
    """A photo whose estimate fits the share held while its header is read is decoded in the same
    request; one that does not fit is decoded only once its own estimate is held, the share let go
    first (never both at once), and neither is held after."""
    limits = {"mime": "image/jpeg", "format": "JPEG", "ceiling": 89_478_485, "max_frames": 10, "derive": True}
    small, big = make_image("small", 320, 200), make_image("big", 3000, 2000)
    small_estimate = ImageJob(small, {**limits, "limit": 60}).estimate
    big_estimate = ImageJob(big, {**limits, "limit": 60}).estimate
    pool = ImagePool(1, big_estimate * 2)
    pool.advance = (small_estimate + big_estimate) // 2
    try:
        assert pool.run(small, limits, 60).derived and pool.budget.peak == pool.advance
        assert pool.run(big, limits, 60).derived and pool.budget.peak == big_estimate
        assert pool.budget.used == 0
    finally:
        pool.close()


@pytest.mark.parametrize(("make", "fmt", "mime"), [
    (lambda: huge_rgba_pngs(8)[0], "PNG", "image/png"),
    (_paletted_png, "PNG", "image/png"),          # P with transparency: converted to RGBA
    (_rotated_jpeg, "JPEG", "image/jpeg"),        # EXIF orientation 6: an upright copy
    (_animated_gif, "GIF", "image/gif"),          # frames decoded one by one, web frames kept
    (_progressive_jpeg, "JPEG", "image/jpeg"),    # libjpeg keeps every coefficient until the last scan
    (_rgba_webp, "WEBP", "image/webp"),           # libwebp's decoder keeps canvases of its own
], ids=["rgba-png", "paletted-png", "rotated-jpeg", "animated-gif", "progressive-jpeg", "rgba-webp"])
def test_estimate_covers_what_the_worker_really_takes(make, fmt: str, mime: str) -> None:
    """The estimate read from the header before decoding is at least the memory the worker then grows
    by (its peak resident size after the image minus before): the budget counts what is really used."""
    data = make()
    limits = {"mime": mime, "format": fmt, "ceiling": 89_478_485, "max_frames": 1000, "derive": True, "limit": 60}
    estimate = ImageJob(data, limits).estimate
    pool = ImagePool(1, 0)
    try:
        pool.run(make_image("warm-up", 64, 64), {**limits, "format": "JPEG", "mime": "image/jpeg"}, 60)
        (pid,) = pool.worker_pids()
        before = _vm(pid, "VmHWM")
        out = pool.run(data, limits, 60)
        assert pool.worker_pids() == [pid]
        grown = _vm(pid, "VmHWM") - before
        assert out.derived and 0 < grown <= estimate, f"grew by {grown >> 20} MB, estimated {estimate >> 20} MB"
        assert estimate < 3 * grown + (64 << 20), f"estimate {estimate >> 20} MB for {grown >> 20} MB: too cautious"
        # Big blocks went back to the system: an idle worker does not keep the last image's memory.
        assert _vm(pid, "VmRSS") < before + (64 << 20)
    finally:
        pool.close()


def test_six_huge_pngs_all_archived_under_the_memory_budget(tmp_path: Path) -> None:
    """Six 9459x9459 RGBA PNGs (358 MB each decoded, 89.5 MP: under Pillow's ceiling) in one article,
    archived by `archiver archive` with eight capture threads and eight image workers: all six end
    archived, and the archiver process with all its children never holds more than the 1 GiB budget
    plus the processes themselves (without the budget: six decodes at once, about 2.1 GB, over that)."""
    pngs = huge_rgba_pngs(6)
    assert all(300_000 < len(p) < 400_000 for p in pngs)
    with FixtureOrigin(images={f"/big/{i}.png": body for i, body in enumerate(pngs)}) as origin:
        article = tmp_path / "story.html"
        article.write_text("<html><body>\n" + "".join(f'<img src="{origin.url(f"/big/{i}.png")}">\n' for i in range(6))
                           + "</body></html>\n")
        # The default time limit (15 s) for each image: the wait for the budget is not counted.
        out, elapsed, memory = archive_cli(article, tmp_path, origin, timeout=600, capture_threads="8",
                                           media_workers="8", media_memory_budget=str(GIB), archive_deadline="500")
    assert out.returncode == 0, out.stderr
    images = json.loads(out.stdout)["images"]
    assert [i["status"] for i in images] == ["archived"] * 6, [i["error"] for i in images]
    assert len({i["sha256"] for i in images}) == 6
    # The archiver process and its idle workers take about 350 MB of their own.
    margin = 450 << 20
    print(f"six huge PNGs: {elapsed:.1f} s, peak {memory.peak >> 20} MB over up to {memory.most_processes} processes")
    assert memory.peak < GIB + margin, f"peak {memory.peak >> 20} MB"


# --- on a real Celery worker ------------------------------------------------------------------------
@pytest.mark.integration
def test_scan_bomb_rejected_in_time_on_a_celery_worker(tmp_path: Path, own_broker: str, origin: FixtureOrigin,
                                                       hostile: dict[str, bytes]) -> None:
    """A Celery prefork child is a daemonic process (multiprocessing refuses it children): the image
    workers are started and killed from it all the same, and the bomb ends rejected in time."""
    from celery import Celery

    from tests.harness.celery_worker import Worker, settings_env

    settings = load_settings(env={}).replace(
        home=str(tmp_path), catalog=f"sqlite:///{tmp_path / 'catalog.sqlite3'}", broker_url=own_broker,
        fetch_allow="127.0.0.1", media_time_limit=LIMIT)
    body = (f'<html><body><img src="{origin.url("/img/scan-bomb.jpg")}">\n'
            f'<img src="{origin.url("/img/ok.jpg")}"></body></html>\n').encode()
    rt = Runtime.from_settings(settings)
    sha = sha256_hex(body)
    rt.store.put(source_key("bomb", sha), body, if_none_match=True)
    with Worker(settings_env(settings), tmp_path / "worker.log", concurrency=2):
        app = Celery("limits-test", broker=settings.broker_url)
        started = time.monotonic()
        app.send_task("archiver.process_article", args=["bomb", sha, None, None, "auto"], queue="archiver")
        while not versions(rt, "bomb") and time.monotonic() < started + 90:
            time.sleep(0.2)
        elapsed = time.monotonic() - started
        log = (tmp_path / "worker.log").read_text(errors="replace")
        assert versions(rt, "bomb"), f"no version; worker log:\n{log[-3000:]}"
    plan = load_plan(rt, "bomb", sha)
    results = {r.url.rsplit("/", 1)[1]: r for r in (load_result(rt, plan, it.item_id) for it in plan.items) if r}
    assert results["scan-bomb.jpg"].status == "rejected"
    assert results["scan-bomb.jpg"].error == f"image decoding exceeded {LIMIT:g} s"
    assert results["ok.jpg"].status == "archived"
    assert elapsed < LIMIT + 30, f"{elapsed:.1f} s"   # worker start-up and the task round trips, not minutes
    assert "daemonic" not in log and "Traceback" not in log
    rt.close()
