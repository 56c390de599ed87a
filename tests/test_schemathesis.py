"""openapi.yaml is the contract: schemathesis fuzzes every /v1 and /hooks operation of the real app
under uvicorn, with an admin API key, and fails on a 5xx or on any answer the file does not
describe (status code, content type, headers, body schema).

Deterministic (hypothesis derandomized, one worker): the same cases in every run, so a CI failure
reproduces locally; the CLI output, printed on failure, has a curl line for each finding."""

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.models import Rep, Source
from tests.conftest import create_live_api_key, free_port, truncate_all

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "openapi.yaml"
SCHEMATHESIS = [sys.executable, "-m", "schemathesis.cli"]  # the dev extra
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
MAX_EXAMPLES = 25  # per operation and phase; the whole run takes about half a minute
RUN_TIMEOUT_SECONDS = 300
SOURCE_SLUG = "fuzzed-form"

# Path parameters point at the seeded rows half the time, so the fuzzer gets past the 404s
# and reads real leads, reps and a real form source; the other half stays random.
CONFIG = """
[dictionaries.source]
values = ["{source}"]
[dictionaries.lead_id]
values = ["{lead_id}"]
[dictionaries.rep_id]
values = ["{rep_id}"]

[parameters]
"path.source" = {{ dictionary = "source", probability = 0.5 }}
"path.lead_id" = {{ dictionary = "lead_id", probability = 0.5 }}
"path.rep_id" = {{ dictionary = "rep_id", probability = 0.5 }}
"""


@dataclass
class Target:
    url: str
    headers: dict[str, str]
    lead_id: str
    rep_id: str


async def serve(port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    from app.main import create_app

    config = uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    return server, task


@pytest.fixture
async def target(
    engine: AsyncEngine,
    arq_redis: ArqRedis,
    live_sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[Target]:
    """The app under uvicorn on its own port, with a source, a rep, a lead and an admin key."""
    await truncate_all(engine)
    async with live_sessions() as session, session.begin():
        session.add(Source(slug=SOURCE_SLUG, name="Fuzzed form", default_region="US"))
        rep = Rep(name="Grace Hopper", phone="+14155550123")
        session.add(rep)
    headers = await create_live_api_key(live_sessions)
    server, task = await serve(free_port())
    url = f"http://127.0.0.1:{server.config.port}"
    try:
        async with httpx.AsyncClient(base_url=url) as client:
            lead = await client.post(
                f"/hooks/forms/{SOURCE_SLUG}", json={"name": "Ada", "phone": "(415) 555-0142"}
            )
        assert lead.status_code == 202, lead.text
        yield Target(url, headers, lead.json()["lead_id"], str(rep.id))
    finally:
        server.should_exit = True
        await task
        await arq_redis.flushdb()  # the dial jobs of the fuzzed leads
        await truncate_all(engine)


async def test_the_api_keeps_the_openapi_yaml_contract(target: Target, tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        CONFIG.format(source=SOURCE_SLUG, lead_id=target.lead_id, rep_id=target.rep_id)
    )
    command = [
        *SCHEMATHESIS,
        "--config-file",
        str(config),
        "run",
        str(SCHEMA_FILE),
        "--url",
        target.url,
        "--header",
        f"Authorization: {target.headers['Authorization']}",
        "--include-path-regex",
        "^/(v1|hooks)/",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--generation-deterministic",  # implies no example database
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--no-color",
    ]
    # Awaited, not subprocess.run: the server runs on this event loop and must keep answering.
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=tmp_path,  # where schemathesis keeps its cache
        env={**os.environ, "NO_COLOR": "1"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT_SECONDS)
    except TimeoutError:
        process.kill()
        output, _ = await process.communicate()
        pytest.fail(f"schemathesis ran over {RUN_TIMEOUT_SECONDS} s:\n{output.decode()}")
    report = output.decode(errors="replace")
    assert process.returncode == 0, f"schemathesis found problems:\n{report}"
    assert "Operations:" in report and "Tested:" in report, report


# What the fuzzer found, pinned down one case each --------------------------------------------


async def test_null_for_a_field_that_cannot_be_empty_leaves_it_unchanged(
    client: httpx.AsyncClient, api_key: dict[str, str], source: Source
) -> None:
    rep = await client.post(
        "/v1/reps", json={"name": "Dana", "phone": "(415) 555-0101"}, headers=api_key
    )
    nulls = {"name": None, "phone": None, "team": None, "availability": None}
    patched = await client.patch(f"/v1/reps/{rep.json()['id']}", json=nulls, headers=api_key)
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Dana" and patched.json()["phone"] == "+14155550101"
    nulls = {"name": None, "default_region": None, "field_map": None, "team": None}
    patched = await client.patch(f"/v1/sources/{source.slug}", json=nulls, headers=api_key)
    assert patched.status_code == 200, patched.text
    assert patched.json()["default_region"] == "US" and patched.json()["field_map"] == {}
    endpoint = await client.post(
        "/v1/webhook-endpoints", json={"url": "https://example.com/hook"}, headers=api_key
    )
    nulls = {"url": None, "event_types": None, "enabled": None}
    patched = await client.patch(
        f"/v1/webhook-endpoints/{endpoint.json()['id']}", json=nulls, headers=api_key
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["url"] == "https://example.com/hook" and patched.json()["enabled"]


async def test_a_value_postgresql_cannot_store_is_a_422(
    client: httpx.AsyncClient, api_key: dict[str, str]
) -> None:
    refused = await client.post(
        "/v1/reps", json={"name": "Da\u0000na", "phone": "(415) 555-0101"}, headers=api_key
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "invalid"


async def test_a_form_field_with_an_empty_name_is_no_500(
    client: httpx.AsyncClient, source: Source
) -> None:
    for name in ("", "[]"):
        response = await client.post(
            f"/hooks/forms/{source.slug}", json={name: "x", "phone": "(415) 555-0142"}
        )
        assert response.status_code == 202, response.text


async def test_the_dnc_import_reads_bare_carriage_returns_and_refuses_huge_fields(
    client: httpx.AsyncClient, api_key: dict[str, str]
) -> None:
    headers = {**api_key, "Content-Type": "text/csv"}
    csv = b"4155550101,moved\r4155550102\r\n4155550103"
    imported = await client.post("/v1/dnc/import", content=csv, headers=headers)
    assert imported.status_code == 200, imported.text
    assert imported.json()["added"] == 3
    huge = await client.post("/v1/dnc/import", content=b"x" * 200_000, headers=headers)
    assert huge.status_code == 400 and huge.json()["error"]["code"] == "malformed_body"


def test_every_integrator_operation_documents_400_and_403() -> None:
    """400: a body that is not JSON at all (FastAPI's own refusal); 403: a key lacking a scope."""
    import yaml

    paths = yaml.safe_load(SCHEMA_FILE.read_text())["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            if path.startswith("/v1/"):
                assert {"400", "403"} <= set(operation["responses"]), f"{method} {path}"
