"""The `firstring` command: dev, api, worker, sandbox, migrate, apikey create."""

import argparse
import asyncio
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from app.config import Settings, get_settings
from app.embedded import EmbeddedPostgres, EmbeddedRedis, ensure_database


@contextmanager
def embedded_stores(settings: Settings) -> Iterator[dict[str, str]]:
    """Start the embedded servers for each empty URL setting; stop what was started here."""
    env: dict[str, str] = {}
    postgres = EmbeddedPostgres(settings.data_dir / "pg")
    redis = EmbeddedRedis(settings.data_dir / "redis")
    try:
        if not settings.database_url:
            env["DATABASE_URL"] = asyncio.run(ensure_database(postgres.start()))
        if not settings.redis_url:
            env["REDIS_URL"] = redis.start()
        yield env
    finally:
        redis.stop()
        postgres.stop()


def migrate(database_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(Path(__file__).resolve().parent.parent / "alembic.ini"))
    config.set_main_option(
        "script_location", str(Path(__file__).resolve().parent.parent / "migrations")
    )
    config.cmd_opts = argparse.Namespace(x=[f"url={database_url}"])
    command.upgrade(config, "head")


def with_stores(run: Callable[[Settings], None]) -> None:
    """Run a one-off command against the configured stores, or the embedded ones."""
    settings = get_settings()
    with embedded_stores(settings) as env:
        os.environ.update(env)
        get_settings.cache_clear()
        run(get_settings())


def cmd_migrate(args: argparse.Namespace) -> None:
    with_stores(lambda settings: migrate(settings.database_url))


def cmd_apikey_create(args: argparse.Namespace) -> None:
    from app.dev import create_key

    def run(settings: Settings) -> None:
        migrate(settings.database_url)
        print(asyncio.run(create_key(settings.database_url, args.name)))

    with_stores(run)


def cmd_api(args: argparse.Namespace) -> None:
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "app.main:app",
        host=settings.api_host,
        port=settings.api_port,
        log_level=settings.log_level.lower(),
        access_log=False,
    )


def cmd_worker(args: argparse.Namespace) -> None:
    from arq.worker import run_worker

    from workers.settings import WorkerSettings, worker_options

    run_worker(WorkerSettings, **worker_options())  # type: ignore[arg-type]


def cmd_sandbox(args: argparse.Namespace) -> None:
    from sandbox.server import serve

    settings = get_settings()
    serve(
        settings.sandbox_host,
        settings.sandbox_port,
        account_sid=settings.carrier_account_sid,
        auth_token=settings.carrier_auth_token,
        time_scale=settings.sandbox_time_scale,
    )


def cmd_dev(args: argparse.Namespace) -> None:
    from app.dev import run_dev

    settings = get_settings()
    with embedded_stores(settings) as env:
        os.environ.update(env)
        get_settings.cache_clear()
        run_dev(get_settings(), env)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="firstring", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, func, help_text in (
        ("dev", cmd_dev, "everything on embedded defaults (what `make run` runs)"),
        ("api", cmd_api, "the HTTP API"),
        ("worker", cmd_worker, "the arq worker that dials"),
        ("sandbox", cmd_sandbox, "the carrier sandbox (a Twilio-compatible phone network)"),
        ("migrate", cmd_migrate, "alembic upgrade head"),
    ):
        commands.add_parser(name, help=help_text).set_defaults(func=func)
    apikey = commands.add_parser("apikey", help="integrator API keys")
    apikey_commands = apikey.add_subparsers(dest="apikey_command", required=True)
    create = apikey_commands.add_parser("create", help="create a key; it is printed once")
    create.add_argument("name")
    create.set_defaults(func=cmd_apikey_create)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.func(args)
