"""A real PostgreSQL server for the tests: ``initdb`` and ``pg_ctl`` on a temporary folder and a
private port on 127.0.0.1, started once per test session and stopped at its end. ``pg_ctl``
refuses root, so as root (CI) the server runs as the ``postgres`` user. Each test that asks gets
a database of its own. Skipped, with the reason, where no PostgreSQL binaries are installed
(``.ci/run`` installs Debian's package)."""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_count = itertools.count()


def binaries() -> Path | None:
    for pattern in ("/usr/lib/postgresql/*/bin", "/usr/local/pgsql/bin"):
        for folder in sorted(glob.glob(pattern), reverse=True):
            if (Path(folder) / "initdb").exists():
                return Path(folder)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, bindir: Path, durable: bool = False) -> None:
        self.bindir = bindir
        self.durable = durable  # fsync on (benchmarks); tests need no crash safety of it
        self.base = Path(tempfile.mkdtemp(prefix="trialwatch-pg-"))
        self.data = self.base / "data"
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        self.template: str | None = None

    def _run(self, *args: str) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stdout}\n{proc.stderr}")

    def start(self) -> None:
        if self.as_root:
            shutil.chown(self.base, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        options = (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c max_connections=200"
        )
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        log = str(self.base / "log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.base, ignore_errors=True)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def new_database(self, *, empty: bool = False) -> str:
        """A database of its own: a copy of one trialwatch's schema was made in once per
        session (a template: each test no longer makes every table again), or an ``empty``
        one."""
        import psycopg

        name = f"tw{os.getpid()}_{next(_count)}"
        template = "" if empty else f' TEMPLATE "{self._template()}"'
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{template}')
        return self.url(name)

    def _template(self) -> str:
        if self.template is None:
            import psycopg

            from trialwatch.store.postgres.adapter import PgState

            name = f"tw{os.getpid()}_template"
            with psycopg.connect(self.url(), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            state = PgState(self.url(name), name)
            state.conn  # noqa: B018 - its first connection makes the tables (the migrations)
            state.close()
            self.template = name
        return self.template


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    bindir = binaries()
    if bindir is None:
        pytest.skip("no PostgreSQL binaries (initdb) on this machine; .ci/run installs them")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed: pip install -e '.[test]'")
    server = Server(bindir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: Server) -> str:
    """A fresh, empty database on the session's server."""
    return pg_server.new_database()
