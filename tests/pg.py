"""PostgreSQL for tests: a server from ``SALESCOPE_TEST_POSTGRES_URL`` or a throwaway cluster.

* ``SALESCOPE_TEST_POSTGRES_URL`` set: that server is used (its role must be allowed to
  CREATE DATABASE, as the ``postgres`` user of a CI service container is).
* Otherwise ``initdb``/``pg_ctl`` are looked up (``SALESCOPE_POSTGRES_BIN``, the PATH, then
  ``/usr/lib/postgresql/<newest>/bin`` and a few usual places), a cluster is created in a
  temporary directory and started on a free local port, with its unix socket in that directory
  too, and no durability (fsync off) since it is thrown away. PostgreSQL refuses to run as
  root, so as root the cluster runs as the ``postgres`` system user, in a directory it owns.
  It is stopped and removed at the end of the test session (and at interpreter exit).
* PostgreSQL not installed: tests needing it are skipped with a message saying what to do,
  unless ``SALESCOPE_REQUIRE_POSTGRES=1`` (CI), which makes that a failure.

Every test gets a database of its own (``postgres_url``), dropped afterwards.

Use from a ``conftest.py``: ``from tests.pg import postgres_server_url, postgres_url``.
One cluster serves the whole process however many conftests import these fixtures.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

URL_ENV = "SALESCOPE_TEST_POSTGRES_URL"
REQUIRE_ENV = "SALESCOPE_REQUIRE_POSTGRES"
BIN_ENV = "SALESCOPE_POSTGRES_BIN"
SYSTEM_USER = "postgres"
SUPERUSER = "postgres"

_SEARCH_GLOBS = (
    "/usr/lib/postgresql/*/bin",  # Debian, Ubuntu
    "/usr/pgsql-*/bin",  # RHEL, Fedora (PGDG)
    "/usr/local/pgsql/bin",  # built from source
    "/opt/homebrew/opt/postgresql@*/bin",  # macOS
    "/usr/local/opt/postgresql@*/bin",
)


class PostgresUnavailableError(Exception):
    """PostgreSQL is not installed (or cannot run here): skip, or fail when it is required."""


def required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0", "false", "no")


def unavailable(message: str) -> NoReturn:
    """Skip the test, or fail it when ``SALESCOPE_REQUIRE_POSTGRES=1``."""
    if required():
        pytest.fail(f"{message} ({REQUIRE_ENV}=1 makes this an error)", pytrace=False)
    pytest.skip(message)


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", str(path))) or (0,)


def find_bindir() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, newest version first, or None."""
    candidates: list[Path] = []
    if os.environ.get(BIN_ENV):
        candidates.append(Path(os.environ[BIN_ENV]))
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for pattern in _SEARCH_GLOBS:
        candidates.extend(sorted(map(Path, glob.glob(pattern)), key=_version_key, reverse=True))
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Cluster:
    """A PostgreSQL cluster this process started, in ``root`` (data, socket, log)."""

    bindir: Path
    root: Path
    port: int
    run_as: str | None  # system user the server runs as (when we are root)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": f"{self.bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(self.root),
            "LC_ALL": "C",
            "LANG": "C",
        }
        user = self.run_as
        return subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            cwd=self.root,
            env=env,
            user=user,
            group=None if user is None else pwd.getpwnam(user).pw_gid,
            extra_groups=None if user is None else [],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def init(self) -> None:
        done = self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{done.stdout}\n{done.stderr}")

    def start(self) -> None:
        server_options = " ".join(
            [
                f"-p {self.port}",
                f"-k {shlex.quote(str(self.root))}",
                "-c listen_addresses=127.0.0.1",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=100",
            ]
        )
        done = self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            server_options,
            "-w",
            "-t",
            "60",
            "start",
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"pg_ctl start failed:\n{done.stdout}\n{done.stderr}\n{self.log_tail()}"
            )

    def stop(self) -> None:
        if self.data.is_dir():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster() -> Cluster:
    """initdb and start a throwaway cluster; PostgresUnavailableError if PostgreSQL is missing."""
    bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailableError(
            "PostgreSQL is not installed: no initdb/pg_ctl on PATH or in "
            "/usr/lib/postgresql/*/bin. Run `bash scripts/ensure-postgres.sh` (installs it with "
            f"apt-get as root), set {BIN_ENV} to its bin directory, or set {URL_ENV} to a server"
        )
    run_as: str | None = None
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            raise PostgresUnavailableError(
                f"running as root and there is no {SYSTEM_USER!r} system user to run "
                f"PostgreSQL as (it refuses root): create one, or set {URL_ENV}"
            ) from None
        run_as = SYSTEM_USER
    # As root, /tmp rather than $TMPDIR, which may sit where the postgres user cannot reach.
    base = "/tmp" if run_as is not None and Path("/tmp").is_dir() else None
    root = Path(tempfile.mkdtemp(prefix="salescope-pg-", dir=base))
    if run_as is not None:
        os.chown(root, account.pw_uid, account.pw_gid)
    cluster = Cluster(bindir=bindir, root=root, port=0, run_as=run_as)
    last_error: Exception | None = None
    try:
        cluster.init()
        for _attempt in range(3):  # the free port may be taken between probing and binding
            cluster.port = _free_port()
            try:
                cluster.start()
                return cluster
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                last_error = error
                cluster._run("pg_ctl", "-D", str(cluster.data), "-m", "immediate", "stop")
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        last_error = error
    shutil.rmtree(root, ignore_errors=True)
    raise RuntimeError(f"could not start a throwaway PostgreSQL from {bindir}: {last_error}")


class _Server:
    """The process's test server: started on first use, stopped once."""

    def __init__(self) -> None:
        self.cluster: Cluster | None = None
        self.unavailable: str | None = None

    def url(self) -> str:
        if os.environ.get(URL_ENV):
            return os.environ[URL_ENV]
        if self.unavailable is not None:
            raise PostgresUnavailableError(self.unavailable)
        if self.cluster is None:
            try:
                self.cluster = start_cluster()
            except PostgresUnavailableError as error:
                self.unavailable = str(error)
                raise
            atexit.register(self.stop)
        return self.cluster.url

    def stop(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()
            self.cluster = None


_SERVER = _Server()


def server_url() -> str:
    """The admin URL of the test server: from the environment, or a cluster started once."""
    return _SERVER.url()


def _admin_engine(url: str) -> sa.Engine:
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return sa.create_engine(parsed, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)


@contextlib.contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """A new, empty database on the server of ``admin_url``, dropped afterwards; yields its URL."""
    name = f"salescope_test_{uuid.uuid4().hex[:12]}"
    engine = _admin_engine(admin_url)
    try:
        with engine.connect() as connection:
            # FILE_COPY (PostgreSQL 15+) is several times faster for small databases.
            version = connection.dialect.server_version_info or (0,)
            strategy = " STRATEGY = FILE_COPY" if version >= (15,) else ""
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"{strategy}')
        try:
            yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with engine.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """Admin URL of the PostgreSQL server for this test session (skips when unavailable)."""
    try:
        url = server_url()
    except PostgresUnavailableError as error:
        problem = str(error)
    else:
        yield url
        _SERVER.stop()
        return
    unavailable(problem)


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """URL of an empty PostgreSQL database of this test's own, dropped after it."""
    with fresh_database(postgres_server_url) as url:
        yield url
