"""Builds the API app: integrator API, public form intake, health."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.apikeys.router import router as apikeys_router
from app.cadences.router import router as cadences_router
from app.calls.router import router as calls_router
from app.config import get_settings
from app.db import SessionDep, get_autocommit_pool
from app.deps import ArqDep
from app.dnc.router import router as dnc_router
from app.email.router import router as email_router
from app.errors import documented_errors, error_body, install_error_handlers
from app.heap import settle_after_startup
from app.intake.dispatch import FormWebhookDispatch
from app.intake.router import router as intake_router
from app.leads.router import router as leads_router
from app.observability import http as observability  # observability: /metrics, request ids
from app.queue import close_arq, make_arq
from app.reps.router import router as reps_router
from app.sms.router import router as sms_router
from app.sources.router import router as sources_router
from app.stats.readers import dispose_helper_engines
from app.stats.router import router as stats_router
from app.teams.router import router as teams_router
from app.voice.dispatch import CarrierCallbackDispatch
from app.voice.router import router as voice_router
from app.webhooks.router import router as webhooks_router


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.arq = make_arq(get_settings().redis_url)
    get_autocommit_pool().warm()
    settle_after_startup()  # the collector's settings: see app/heap.py
    yield
    await close_arq(app.state.arq)
    await get_autocommit_pool().close()
    await dispose_helper_engines()


def create_app() -> FastAPI:
    app = FastAPI(
        title="FirstRing",
        version="0.1.0",
        description="Calls every web lead back within seconds, and keeps following up.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    # Routes are matched in order: the carrier's callbacks and the form webhooks, which are
    # most of the traffic, are looked at first.
    app.include_router(voice_router)
    app.include_router(sms_router)
    app.include_router(intake_router, responses=documented_errors(400, 401, 404, 413, 415, 422))
    for router in (
        sources_router,
        leads_router,
        reps_router,
        teams_router,
        calls_router,
        webhooks_router,
        apikeys_router,
        stats_router,
        dnc_router,
        cadences_router,
    ):
        app.include_router(router, responses=documented_errors(400, 401, 403, 404, 409, 422))
    app.include_router(email_router)  # public unsubscribe pages, outside the API description
    app.add_api_route("/healthz", healthz, methods=["GET"], tags=["health"])
    app.add_api_route("/readyz", readyz, methods=["GET"], tags=["health"])
    app.add_middleware(FormWebhookDispatch)  # the form webhooks skip the routing (see there)
    app.add_middleware(CarrierCallbackDispatch)  # and so do the carrier's voice callbacks
    observability.install(app)  # observability: request ids, request durations, /metrics
    return app


async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def readyz(session: SessionDep, arq: ArqDep) -> JSONResponse:
    """Ready when both stores answer; 503 names the one that does not."""
    try:
        await session.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError):
        return JSONResponse(error_body("unavailable", "The database is unreachable."), 503)
    try:
        await arq.ping()
    except (RedisError, OSError):
        return JSONResponse(error_body("unavailable", "Redis is unreachable."), 503)
    return JSONResponse({"status": "ready"})


app = create_app()
