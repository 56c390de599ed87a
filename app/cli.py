"""The `firstring` command: dev, api, worker, sandbox, migrate, apikey create/revoke."""

import argparse
import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID

from app.apikeys.service import Scope
from app.config import Settings, get_settings
from app.embedded import EmbeddedPostgres, EmbeddedRedis, ensure_database
from app.observability.logs import configure_logging  # observability


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

    scopes = [Scope(s) for s in args.scope] if args.scope else None

    def run(settings: Settings) -> None:
        migrate(settings.database_url)
        print(asyncio.run(create_key(settings.database_url, args.name, scopes)))

    with_stores(run)


def cmd_apikey_revoke(args: argparse.Namespace) -> None:
    from app.dev import revoke_key

    def run(settings: Settings) -> None:
        asyncio.run(revoke_key(settings.database_url, UUID(args.key_id)))
        print(f"revoked {args.key_id}")

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
        log_config=None,  # observability: uvicorn's loggers go through configure_logging's handler
    )


WORKER_RESTART_DELAY_SECONDS = 1.0


def cmd_worker(args: argparse.Namespace) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    from workers.pickup import run_worker
    from workers.settings import WorkerSettings, worker_options

    # arq lets a lost Redis connection end the worker; a Redis restart must not stop dialing.
    while True:
        try:
            run_worker(WorkerSettings, **worker_options())
            return
        except (RedisConnectionError, OSError) as exc:
            logging.getLogger("firstring.worker").warning("Redis lost (%s); restarting", exc)
            time.sleep(WORKER_RESTART_DELAY_SECONDS)


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
    create.add_argument(
        "--scope",
        action="append",
        choices=[s.value for s in Scope],
        help="read, write or admin (each includes the ones before); repeatable; default admin",
    )
    create.set_defaults(func=cmd_apikey_create)
    revoke = apikey_commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    revoke.set_defaults(func=cmd_apikey_revoke)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    configure_logging(get_settings().log_level, get_settings().log_format)  # observability
    args.func(args)
