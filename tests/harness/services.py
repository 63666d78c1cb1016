"""Throwaway real servers for tests and benchmarks: Redis, SeaweedFS (S3) and PostgreSQL.

Each starter runs the real binary on free loopback ports inside its own temp directory, polls
until the server answers a real request, and returns a handle whose ``stop()`` (or ``with``
block) shuts it down and removes the directory. A server that fails to start raises
``ServiceError`` carrying the tail of its log, so a broken environment fails loudly.

    with start_seaweedfs() as s3:
        bucket = s3.make_bucket(object_lock=True)
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

LOOPBACK = "127.0.0.1"
GRPC_OFFSET = 10000  # SeaweedFS derives some gRPC ports as http port + 10000


class ServiceError(RuntimeError):
    """A test server could not be started; the message ends with its log tail."""


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (held together while choosing)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind((LOOPBACK, 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def _free_port_with_offset(offset: int, taken: set[int]) -> int:
    """A free port p (not in ``taken``) such that p + offset is free too."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((LOOPBACK, 0))
            port = int(s.getsockname()[1])
            if port + offset < 65536 and port not in taken and port + offset not in taken \
                    and _port_free(port + offset):
                return port
    raise ServiceError("no free pair of loopback ports found")


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def find_binary(name: str, *extra: str) -> str:
    """``name`` next to the running Python (venv), on PATH, or at one of ``extra`` globs."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if found:
        return found
    for pattern in extra:
        hits = sorted(glob.glob(pattern))
        if hits:
            return hits[-1]
    raise ServiceError(f"{name} not found (looked beside {sys.executable}, on PATH and in {extra})")


class Service:
    """A child process in a temp directory, stopped at most once."""

    name = "service"

    def __init__(self, tmpdir: Path, log: Path) -> None:
        self.tmpdir = tmpdir
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self._stopped = False
        atexit.register(self.stop)

    def _spawn(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self._argv, self._env = argv, env
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         cwd=self.tmpdir, env=env, start_new_session=True)

    def _wait(self, ready: Callable[[], bool], timeout: float) -> None:
        """Poll ``ready`` until it is True; raise with the log tail if the process dies or time runs out."""
        deadline = time.monotonic() + timeout
        delay = 0.02
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                self.fail(f"exited with status {self.proc.returncode}")
            with contextlib.suppress(Exception):
                if ready():
                    return
            if time.monotonic() > deadline:
                self.fail(f"did not answer within {timeout:.0f}s")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)

    def ready(self) -> bool:
        """Whether the service answers (each service says how)."""
        raise NotImplementedError

    def kill(self) -> None:
        """SIGKILL the service's whole process group: no chance to flush or say goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 9)
            self.proc.wait(timeout=10)

    def restart(self, timeout: float = 60.0) -> None:
        """Start the service again as it was started (same ports, same data directory) and wait for it."""
        self.kill()
        self._spawn(self._argv, self._env)
        self._wait(self.ready, timeout)

    def fail(self, why: str) -> None:
        tail = _log_tail(self.log)
        self.stop()
        raise ServiceError(f"{self.name} {why}; log tail:\n{tail}")

    def _terminate(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        try:
            self._terminate()
        finally:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            atexit.unregister(self.stop)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- Redis ----------------------------------------------------------------------------------------

class RedisServer(Service):
    name = "redis-server"

    def __init__(self, tmpdir: Path, port: int) -> None:
        super().__init__(tmpdir, tmpdir / "redis.log")
        self.port = port
        self.url = f"redis://{LOOPBACK}:{port}/0"

    def ping(self) -> bool:
        with socket.create_connection((LOOPBACK, self.port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")

    def ready(self) -> bool:
        return self.ping()


def start_redis(timeout: float = 20.0, *, appendonly: bool = False) -> RedisServer:
    """A fresh redis-server on a free loopback port: without persistence, or with `appendonly` the
    append-only file as docker-compose.yml runs it (fsync every second), so a restart keeps the queue."""
    binary = find_binary("redis-server", "/usr/bin/redis-server", "/usr/local/bin/redis-server")
    server = RedisServer(Path(tempfile.mkdtemp(prefix="archiver-redis-")), free_port())
    server._spawn([binary, "--port", str(server.port), "--bind", LOOPBACK, "--save", "",
                   "--appendonly", "yes" if appendonly else "no", "--dir", str(server.tmpdir),
                   "--protected-mode", "yes", "--logfile", str(server.log)])
    server._wait(server.ping, timeout)
    return server


# --- SeaweedFS (S3) ------------------------------------------------------------------------------

class SeaweedFS(Service):
    name = "seaweedfs (weed mini)"
    region = "us-east-1"

    def __init__(self, tmpdir: Path, s3_port: int) -> None:
        super().__init__(tmpdir, tmpdir / "weed.log")
        self.endpoint_url = f"http://{LOOPBACK}:{s3_port}"
        self.access_key = "archiver-test"
        self.secret_key = "archiver-test-secret-" + uuid.uuid4().hex
        self._client: Any = None

    def client(self) -> Any:
        """A boto3 S3 client signed with this server's credentials."""
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.session.Session().client(
                "s3", endpoint_url=self.endpoint_url, region_name=self.region,
                aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
                config=Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 1},
                              s3={"addressing_style": "path"}))
        return self._client

    def ready(self) -> bool:
        self.client().list_buckets()
        return True

    def make_bucket(self, name: str | None = None, *, object_lock: bool = False) -> str:
        """Create a bucket (a fresh unique name by default); with Object Lock if asked."""
        name = name or f"t-{uuid.uuid4().hex[:16]}"
        args: dict[str, Any] = {"Bucket": name}
        if object_lock:
            args["ObjectLockEnabledForBucket"] = True
        self.client().create_bucket(**args)
        return name

    def settings_overrides(self, bucket: str, prefix: str = "") -> dict[str, str]:
        """Settings fields that point archiver at ``bucket`` on this server."""
        return {"storage": f"s3://{bucket}/{prefix}".rstrip("/"), "s3_endpoint_url": self.endpoint_url,
                "s3_region": self.region, "s3_access_key": self.access_key, "s3_secret_key": self.secret_key}


def start_seaweedfs(timeout: float = 60.0) -> SeaweedFS:
    """``weed mini`` with every listener on a free loopback port and one admin identity."""
    binary = find_binary("weed")
    tmpdir = Path(tempfile.mkdtemp(prefix="archiver-weed-"))
    (master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3_port, s3_grpc) = free_ports(8)
    taken = {master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3_port, s3_grpc}
    admin = _free_port_with_offset(GRPC_OFFSET, taken)
    server = SeaweedFS(tmpdir, s3_port)
    identities = {"identities": [{
        "name": "archiver-test",
        "credentials": [{"accessKey": server.access_key, "secretKey": server.secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]}
    (tmpdir / "s3.json").write_text(json.dumps(identities), encoding="utf-8")
    (tmpdir / "data").mkdir()
    (tmpdir / "admin").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_", "WEED_"))}
    server._spawn([
        binary, "mini", f"-dir={tmpdir / 'data'}", f"-ip={LOOPBACK}", f"-ip.bind={LOOPBACK}",
        f"-master.port={master}", f"-master.port.grpc={master_grpc}", "-master.telemetry=false",
        f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
        f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
        f"-filer.localSocket={tmpdir / 'filer.sock'}",
        f"-s3.port={s3_port}", f"-s3.port.grpc={s3_grpc}", "-s3.port.iceberg=0", "-s3.port.lance=0",
        f"-s3.config={tmpdir / 's3.json'}", f"-s3.localSocket={tmpdir / 's3.sock'}",
        "-webdav=false", "-admin.ui=false", f"-admin.port={admin}", f"-admin.port.grpc={admin + GRPC_OFFSET}",
        f"-admin.dataDir={tmpdir / 'admin'}",
    ], env=env)
    server._wait(server.ready, timeout)
    return server


# --- PostgreSQL ----------------------------------------------------------------------------------

class PostgresServer(Service):
    name = "postgresql"

    def __init__(self, tmpdir: Path, port: int, pg_ctl: str, run_as: list[str]) -> None:
        super().__init__(tmpdir, tmpdir / "postgres.log")
        self.port = port
        self.user = "postgres"
        self.dsn = f"postgresql://{self.user}@{LOOPBACK}:{port}/postgres"
        self._pg_ctl = pg_ctl
        self._run_as = run_as

    def run(self, argv: list[str], timeout: float) -> None:
        try:
            done = subprocess.run([*self._run_as, *argv], cwd=self.tmpdir, capture_output=True,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            self.fail(f"{Path(argv[0]).name} took longer than {timeout:.0f}s")
            return
        if done.returncode != 0:
            with open(self.log, "ab") as out:
                out.write(done.stdout + done.stderr)
            self.fail(f"{Path(argv[0]).name} failed with status {done.returncode}")

    def accepts(self) -> bool:
        with socket.create_connection((LOOPBACK, self.port), timeout=1):
            return True

    def _terminate(self) -> None:
        if (self.tmpdir / "data" / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                subprocess.run([*self._run_as, self._pg_ctl, "-D", str(self.tmpdir / "data"),
                                "-m", "immediate", "-w", "stop"],
                               capture_output=True, timeout=30, check=False)


def start_postgres(timeout: float = 60.0, settings: dict[str, str] | None = None) -> PostgresServer:
    """initdb + pg_ctl on a free port; as root, the cluster is run by the ``postgres`` user.

    `settings` are server parameters (``-c name=value``) over the defaults, e.g. memory sizes.
    """
    pattern = "/usr/lib/postgresql/*/bin/"
    initdb = find_binary("initdb", pattern + "initdb")
    pg_ctl = str(Path(initdb).resolve().parent / "pg_ctl")
    if not Path(pg_ctl).is_file():
        pg_ctl = find_binary("pg_ctl", pattern + "pg_ctl")
    tmpdir = Path(tempfile.mkdtemp(prefix="archiver-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(tmpdir, ignore_errors=True)
            raise ServiceError("running as root and there is no 'postgres' user to run PostgreSQL") from None
        os.chown(tmpdir, owner.pw_uid, owner.pw_gid)
        run_as = [find_binary("runuser", "/usr/sbin/runuser", "/sbin/runuser"), "-u", "postgres", "--"]
    server = PostgresServer(tmpdir, free_port(), pg_ctl, run_as)
    data = tmpdir / "data"
    server.run([initdb, "-D", str(data), "-U", server.user, "-A", "trust", "-E", "UTF8", "--locale=C",
                "--no-sync", "--no-instructions"], timeout)
    options = (f"-p {server.port} -k {tmpdir} -c listen_addresses={LOOPBACK} -c fsync=off "
               "-c synchronous_commit=off -c full_page_writes=off")
    options += "".join(f" -c {name}={value}" for name, value in (settings or {}).items())
    server.run([pg_ctl, "-D", str(data), "-l", str(server.log), "-o", options, "-w", "-t", str(int(timeout)),
                "start"], timeout + 5)
    server._wait(server.accepts, timeout)
    return server


def fresh_pg_dsn(dsn: str) -> str:
    """A new empty database on the server at `dsn`, so tests never see each other's rows."""
    import psycopg

    name = "test_" + uuid.uuid4().hex[:12]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return dsn.rsplit("/", 1)[0] + "/" + name
