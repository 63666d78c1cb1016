"""Shared pieces of the browser tests, so every flow runs the pages the same way: the app under uvicorn
on a free loopback port, Debian's chromium driven by Playwright (no downloaded browser), signing in
through the login form, screenshots kept for a person to look at, and axe-core run on each page.

axe-core comes from npm (scripts/setup.sh installs it into .cache/axe; ARCHIVER_AXE_JS names another
axe.min.js). The pages' Content-Security-Policy forbids inline scripts, so axe's source is evaluated
through the DevTools protocol (Playwright's evaluate), which CSP does not govern; the browser context is
also opened with bypass_csp so axe's own checks are not blocked. A missing axe file fails the test.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
from playwright.sync_api import sync_playwright

from archiver.web.app import create_app
from tests import pages_corpus as pc

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
AXE_DEFAULT = ROOT / ".cache" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
# The impacts that fail a page; "minor" and "moderate" findings are left to judgement.
AXE_FAILING = ("serious", "critical")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel's pick)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(app: Any, port: int | None = None, start_timeout: float = 20.0) -> Iterator[str]:
    """Run an ASGI app (e.g. `create_app(settings, runtime=...)`) under uvicorn in a daemon thread.

    Yields the base URL `http://127.0.0.1:<port>` (no trailing slash) once the server accepts
    connections; asks it to exit on leaving. Raises AssertionError if it does not start in time.
    """
    port = port or free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def corpus_server(home: Path, **overrides: Any) -> Iterator[tuple[str, pc.Corpus]]:
    """The pages corpus (tests/pages_corpus.py) archived into `home` and served by the web app.

    The stable-copy base URL points at this server's /media, so pages show their images. `overrides`
    are settings passed to pages_corpus.build. Yields (base URL, corpus); closes the runtime after.
    """
    port = free_port()
    with pc.origin() as origin:
        corpus = pc.build(home, origin, **{"public_base_url": f"http://127.0.0.1:{port}/media", **overrides})
    try:
        with serve(create_app(corpus.settings, runtime=corpus.runtime), port=port) as base:
            yield base, corpus
    finally:
        corpus.runtime.close()


@contextlib.contextmanager
def chromium(profile: Path, **context_options: Any) -> Iterator[Any]:
    """A headless persistent Chromium context (Debian's /usr/bin/chromium), 1200x900, en-US, CSP bypassed
    for axe. `context_options` go to launch_persistent_context (e.g. accept_downloads). Yields the context.
    """
    assert Path(CHROMIUM).exists(), "chromium (the Debian package) is installed by scripts/setup.sh"
    options: dict[str, Any] = {"viewport": {"width": 1200, "height": 900}, "locale": "en-US", "bypass_csp": True,
                               "accept_downloads": True, **context_options}
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=FLAGS, **options)
        try:
            yield context
        finally:
            context.close()


def login(page: Any, base: str, token: str, next_path: str = "/search") -> None:
    """Sign in through the login form with an API token and wait for the page it sends to.

    Raises AssertionError if the browser is still on /login afterwards (a refused token).
    """
    page.goto(f"{base}/login?next={next_path}")
    page.fill("#token", token)
    page.click("form button[type=submit]")
    page.wait_for_load_state()
    assert "/login" not in page.url, f"sign-in refused: {page.url}"


def _default_shot_dir() -> Path:
    test = os.environ.get("PYTEST_CURRENT_TEST", "adhoc").split(" ")[0]
    return Path(tempfile.gettempdir()) / "archiver-shots" / re.sub(r"[^\w.-]+", "_", test)[-120:]


def shot(target: Any, name: str, tmp_path: Path | None = None, **kwargs: Any) -> Path:
    """Screenshot a page (full page unless `full_page=False` is given) or an element as `<name>.png`.

    Saved in `tmp_path` (the test's tmp dir; a per-test dir under the system tmp when None) and copied
    into $ARCHIVER_SCREENSHOTS when that is set. Returns the path; fails if the image is near-empty.
    """
    out_dir = tmp_path or _default_shot_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.png"
    if hasattr(target, "goto"):  # a page, not an element
        kwargs.setdefault("full_page", True)
    target.screenshot(path=str(path), **kwargs)
    extra = os.environ.get("ARCHIVER_SCREENSHOTS")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(extra) / path.name)
    assert path.stat().st_size > 3_000, f"screenshot {name} is nearly empty"
    return path


def axe_source() -> str:
    """The text of axe.min.js ($ARCHIVER_AXE_JS or .cache/axe). Raises AssertionError naming the setup
    script when it is missing: a browser test without its accessibility check must not pass."""
    path = Path(os.environ.get("ARCHIVER_AXE_JS") or AXE_DEFAULT)
    assert path.is_file(), (f"axe-core not found at {path}: run `bash scripts/setup.sh` "
                            "(or set ARCHIVER_AXE_JS to an axe.min.js)")
    return path.read_text(encoding="utf-8")


def axe_violations(page: Any, impacts: tuple[str, ...] = AXE_FAILING) -> list[dict[str, Any]]:
    """Run axe-core (WCAG 2 A/AA rules and best practices) on the page as it is now.

    Returns the violations whose impact is in `impacts`, each {id, impact, help, nodes: [target...]}.
    """
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source() + "\n;window.axe = axe; true")
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 8).map(n => n.target.join(' ') + ' :: ' + (n.failureSummary || '')
                                                  .replace(/\\s+/g, ' ').slice(0, 200))}));
    }""")
    return [v for v in result if v.get("impact") in impacts]


def axe_check(page: Any, impacts: tuple[str, ...] = AXE_FAILING) -> None:
    """Fail (AssertionError) with a readable list when axe-core finds serious or critical violations."""
    found = axe_violations(page, impacts)
    if found:
        lines = [f"axe: {len(found)} violation(s) on {page.url}:"]
        for v in found:
            lines.append(f"- [{v['impact']}] {v['id']}: {v['help']}")
            lines.extend(f"    {node}" for node in v["nodes"])
        raise AssertionError("\n".join(lines))
