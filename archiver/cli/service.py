"""CLI of the running service: `archiver serve` (the API, web UI and stable URLs), `archiver worker`
(a supervised Celery worker) and `archiver beat` (the supervised scheduler); the library itself never
imports Celery, these commands run the `celery` program as their child."""

from __future__ import annotations

import argparse
import errno
import glob
import importlib.util
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from archiver.cli.kinds import shown
from archiver.config.settings import Settings
from archiver.errors import ConfigError, InputError, MissingExtra
from archiver.faults import is_infrastructure_error
from archiver.runners.queue import QUEUE
from archiver.runtime import Runtime
from archiver.web.app import READINESS, create_app


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to `host`:`port` and listening (IPv6 when `host` is an IPv6 address).

    InputError (one line) when the host is not an address of this machine or does not resolve, the
    port is in use, or binding it needs privileges this user lacks."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError):
        raise InputError(f"--host {shown(host)}: no such host or address") from None
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        where = f"{shown(host)} port {port}"
        if exc.errno == errno.EADDRINUSE:
            raise InputError(f"{where} is already in use (another archiver serve?); choose another --port") from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise InputError(f"{where}: this user may not listen there (ports below 1024 need privileges)") from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise InputError(f"--host {shown(host)} is not an address of this machine") from None
        raise InputError(f"cannot listen on {where}: {exc.strerror or exc}") from None
    return sock


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver serve`: run the web app with uvicorn on `args.host`:`args.port` until stopped; returns 0.

    The socket is bound here first (`listen`), so a port in use or a host that is not this machine's is
    one line and exit 2 before anything starts; so is a catalog or storage that does not answer (each is
    asked as /readyz asks it, archiver.web.app.READINESS). X-Forwarded-Proto and X-Forwarded-For are believed only
    from the proxies in `forwarded_allow_ips` (so a request a listed TLS proxy received over https is
    https to the app: its session cookie is `Secure`); uvicorn's own FORWARDED_ALLOW_IPS variable is
    not consulted."""
    import uvicorn  # only this command serves HTTP; other commands start without it

    sock = listen(args.host, args.port)
    with sock, Runtime.from_settings(settings) as rt:
        for probe in READINESS.values():  # a catalog or storage that does not answer: one line, exit 2, now
            probe(rt)
        mismatch = public_base_mismatch(settings.public_base_url, args.port)
        if mismatch:  # said once it is sure to serve: an error above stays the one line
            print(f"archiver: warning: {mismatch}", file=sys.stderr)
        config = uvicorn.Config(create_app(settings, rt), host=args.host, port=args.port, log_level="info",
                                use_colors=False, proxy_headers=True,
                                forwarded_allow_ips=[p.strip() for p in settings.forwarded_allow_ips.split(",")
                                                     if p.strip()])
        uvicorn.Server(config).run(sockets=[sock])
    return 0


_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


def public_base_mismatch(public_base_url: str, port: int) -> str | None:
    """What is wrong when the public base URL names this machine (a loopback host) on another port than
    the one served: every archived image and card in the pages would be asked of a port nothing
    answers. None otherwise (another host may well be a proxy or a CDN in front of this server)."""
    try:
        parts = urlsplit(public_base_url)
        there = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None
    if (parts.hostname or "").lower() not in _LOOPBACK or there == port:
        return None
    suggested = parts._replace(netloc=f"{parts.hostname if ':' not in (parts.hostname or '') else '[::1]'}:{port}")
    return (f"ARCHIVER_PUBLIC_BASE_URL ({shown(public_base_url)}) is port {there} of this machine, but this server "
            f"listens on port {port}: archived images and cards in its pages will not load; set "
            f"ARCHIVER_PUBLIC_BASE_URL={shown(suggested.geturl())}")


def check_broker(settings: Settings) -> None:
    """Ask the broker's Redis for a PING (5 s to connect and to answer); ConfigError when the broker URL is
    not a Redis one, the Redis client's error (RedisError: exit 2, "the broker did not answer") when it
    does not answer."""
    import redis  # the `redis` extra, checked by _check_celery before this runs

    if urlsplit(settings.broker_url).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError("ARCHIVER_BROKER_URL must be a redis://, rediss:// or unix:// URL (the workers use Redis)")
    client = redis.Redis.from_url(settings.broker_url, socket_connect_timeout=5, socket_timeout=5)
    try:
        client.ping()
    finally:
        client.close()


def wait_until_answering(command: str, what: str, ask: Callable[[], None], within: float) -> None:
    """Call `ask` (which raises when a service does not answer) until it returns, for at most `within`
    seconds: a worker or beat started while Redis or PostgreSQL is still coming up (or restarting) waits
    for it instead of ending, and says so once on stderr. A configuration error (ConfigError, a bad URL)
    is raised at once; the service's own error is raised once `within` has passed (exit 2, one line,
    "... did not answer"). Pauses 0.5 s doubling to 5 s between asks."""
    deadline = time.monotonic() + within
    pause, said = 0.5, False
    while True:
        try:
            ask()
            return
        except ConfigError:
            raise
        except Exception as exc:
            if not is_infrastructure_error(exc) or time.monotonic() + pause > deadline:
                raise
            if not said:
                print(f"{command}: waiting up to {within:g} s for {what} to answer", file=sys.stderr, flush=True)
                said = True
        time.sleep(pause)
        pause = min(pause * 2, 5.0)


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver worker`: run a Celery worker on the archiver queue, and run it again when it dies.

    The worker is this interpreter's `python -m celery`, so it runs from the same environment as this
    command whether or not that environment's bin/ is on PATH. Celery's worker ends itself on some
    broker faults ("Unrecoverable error" after Redis went away and came back); this command is its
    supervisor: a worker that exits on its own is started again after a pause (1 s doubling to 30 s,
    back to 1 s once a worker ran for a minute), so a broker outage never leaves the queue without
    workers. SIGTERM or SIGINT is passed on to the worker (a warm shutdown) and ends this command with
    the worker's status. Before it starts, the broker, the catalog and storage are each asked: one
    that does not answer within `--wait-for` seconds (`wait_until_answering`) is one line and exit 2.
    MissingExtra (exit 2, one line) when Celery or kombu's
    Redis transport is not installed (the `redis` extra), checked here so that it is one line, not the
    worker's traceback."""
    _check_celery("archiver worker")

    def services() -> None:
        check_broker(settings)
        with Runtime.from_settings(settings) as rt:
            for probe in READINESS.values():
                probe(rt)

    wait_until_answering("archiver worker", "the broker, the catalog and storage", services, args.wait_for)
    argv = [sys.executable, "-m", "celery", "-A", "workers.app", "worker", "--loglevel", args.loglevel,
            "--concurrency", str(args.concurrency), "-Q", QUEUE]
    return supervise(argv)


def _check_celery(what: str) -> None:
    """MissingExtra when Celery or kombu's Redis transport is not installed. Celery is looked up, not
    imported (the library never imports it); kombu's Redis transport is imported, since its own needs
    (redis, packaging) are what a plain `celery` install lacks."""
    try:
        if importlib.util.find_spec("celery") is None:
            raise ModuleNotFoundError("No module named 'celery'", name="celery")
        import kombu.transport.redis  # noqa: F401
    except ImportError as exc:
        raise MissingExtra(what, "redis", exc) from None


def beat_schedule_path(args: argparse.Namespace, settings: Settings) -> Path:
    """Where beat keeps its schedule file: `--schedule`, else <home>/beat/celerybeat-schedule (its folder
    made). ConfigError when that folder cannot be made or written."""
    if args.schedule:
        return Path(args.schedule).absolute()
    folder = settings.home_path / "beat"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot make {shown(str(folder), 200)} for the beat's schedule: "
                          f"{exc.strerror or exc}; set ARCHIVER_HOME or --schedule") from None
    return folder / "celerybeat-schedule"


def cmd_beat(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver beat`: run Celery beat with workers/app.py's schedule (health rounds, the sweeper, feeds,
    timestamps; the library never imports Celery, this runs `python -m celery ... beat` as its child),
    its schedule file at `beat_schedule_path` (`--check`: `beat_check`, a healthcheck), supervised as
    `archiver worker` is (started again when it ends on its own; SIGTERM/SIGINT passed on). Exactly one
    beat should run per deployment. The broker is asked first (`check_broker`, for up to `--wait-for`
    seconds): one that does not answer is one line and exit 2, not a scheduler running silently.
    MissingExtra (exit 2) without the `redis`
    extra; ConfigError when the schedule's folder is not writable."""
    _check_celery("archiver beat")
    wait_until_answering("archiver beat", "the broker", lambda: check_broker(settings),
                         0.0 if args.check else args.wait_for)
    schedule = beat_schedule_path(args, settings)
    if args.check:
        return beat_check(schedule, args.max_age)
    argv = [sys.executable, "-m", "celery", "-A", "workers.app", "beat", "--loglevel", args.loglevel,
            "--schedule", str(schedule)]
    return supervise(argv, name="beat")


def beat_check(schedule: Path, max_age: float) -> int:
    """`archiver beat --check` (the broker answered already): 0 when the schedule file (or, as the dbm
    module names them, a file beside it starting with its name) was written within `max_age` seconds,
    else 1 with one line on stderr. Celery beat writes its schedule whenever it syncs (every 3 minutes
    by default, and the sweeper runs every minute, so the file changes while beat ticks): an old file
    means a beat that no longer runs its loop. Celery is not imported and no worker is asked."""
    files = [p for p in schedule.parent.glob(glob.escape(schedule.name) + "*") if p.is_file()]
    if not files:
        print(f"archiver beat: no schedule file at {shown(str(schedule), 200)} (beat not started?)", file=sys.stderr)
        return 1
    age = time.time() - max(p.stat().st_mtime for p in files)
    if age > max_age:
        print(f"archiver beat: the schedule file was last written {age:.0f} s ago (over {max_age:.0f} s): "
              "the beat is stuck or stopped", file=sys.stderr)
        return 1
    return 0


def supervise(argv: list[str], *, pause: float = 1.0, max_pause: float = 30.0, healthy_after: float = 60.0,
              name: str = "worker") -> int:
    """Run `argv` (`name`: what it is, for the restart line: worker or beat) as a child and start it again
    whenever it exits without being asked to stop; returns its exit status once a SIGTERM or SIGINT sent
    to this process (and passed on to it) ends it."""
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    wait = pause
    while True:
        started = time.monotonic()
        child = subprocess.Popen(argv)
        code = child.wait()  # a signal handled meanwhile does not interrupt the wait (PEP 475)
        if stopping:
            return code
        wait = pause if time.monotonic() - started > healthy_after else min(max_pause, wait * 2)
        print(f"archiver {name}: the Celery {name} exited with status {code}; starting it again in {wait:.0f} s",
              file=sys.stderr, flush=True)
        deadline = time.monotonic() + wait
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.2)
        if stopping:
            return code
