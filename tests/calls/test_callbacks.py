"""Carrier callbacks over HTTP: signatures, idempotent storage, outcomes, attempt queries."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from uuid import uuid4

import pytest
from arq.connections import ArqRedis
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from twilio.request_validator import RequestValidator

from app.calls import outcomes
from app.config import get_settings
from app.db import driver_connection
from app.models import (
    Attempt,
    CallEvent,
    Event,
    Lead,
    Rep,
    Source,
    WebhookDelivery,
    WebhookEndpoint,
)
from app.webhooks.service import attempt_data


def signed(path: str, params: dict[str, str]) -> dict[str, str]:
    url = get_settings().public_base_url + path
    signature = RequestValidator(get_settings().carrier_auth_token).compute_signature(url, params)
    return {"X-Twilio-Signature": signature}


@pytest.fixture
async def live_attempt(session: AsyncSession, source: Source) -> Attempt:
    """A rep being rung for a lead, as the dialer leaves it after calls.create."""
    now = datetime.now(UTC)
    rep = Rep(name="Dana", phone="+14155550101", call_state="ringing")
    lead = Lead(source_id=source.id, phone="+14155550142", phone_raw="4155550142", status="dialing")
    session.add_all([rep, lead])
    await session.flush()
    attempt = Attempt(
        lead_id=lead.id,
        rep_id=rep.id,
        ring_group=uuid4(),
        routing="longest_idle",
        status="ringing",
        rep_call_sid="CA" + "1" * 32,
        webhook_received_at=now,
        create_sent_at=now,
        created_at=now,
    )
    session.add(attempt)
    await session.flush()
    rep.current_attempt_id, lead.live_ring_group = attempt.id, attempt.ring_group
    await session.flush()
    return attempt


def status_params(attempt: Attempt, status: str, **extra: str) -> dict[str, str]:
    assert attempt.rep_call_sid is not None
    return {"CallSid": attempt.rep_call_sid, "CallStatus": status, **extra}


async def post_status(client: AsyncClient, attempt: Attempt, params: dict[str, str]) -> int:
    path = f"/twilio/status/rep?attempt={attempt.id}"
    response = await client.post(path, data=params, headers=signed(path, params))
    return response.status_code


async def event_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(CallEvent)) or 0)


async def test_a_forged_callback_is_403_and_changes_nothing(
    client: AsyncClient, session: AsyncSession, live_attempt: Attempt
) -> None:
    params = status_params(live_attempt, "no-answer")
    path = f"/twilio/status/rep?attempt={live_attempt.id}"
    forged = {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}
    for headers in (forged, {}, signed(path, {**params, "CallStatus": "busy"})):
        response = await client.post(path, data=params, headers=headers)
        assert response.status_code == 403
        assert response.json()["error"]["field"] == "X-Twilio-Signature"
    await session.refresh(live_attempt)
    assert live_attempt.outcome is None and live_attempt.ended_at is None
    assert await event_count(session) == 0


async def test_a_signature_over_the_url_without_its_port_is_taken_as_the_library_takes_it(
    client: AsyncClient, session: AsyncSession, live_attempt: Attempt
) -> None:
    """The signature of the URL as requested is checked first; anything else gets
    RequestValidator.validate's word, which also accepts the URL without its port and refuses
    a header no signature could be."""
    params = status_params(live_attempt, "ringing")
    path = f"/twilio/status/rep?attempt={live_attempt.id}"
    base = get_settings().public_base_url
    assert base.startswith("http://127.0.0.1:")  # the port the check strips
    validator = RequestValidator(get_settings().carrier_auth_token)
    portless = validator.compute_signature("http://127.0.0.1" + path, params)
    odd = {"X-Twilio-Signature": "signé".encode("latin-1")}
    response = await client.post(path, data=params, headers=odd)  # type: ignore[arg-type]
    assert response.status_code == 403
    response = await client.post(path, data=params, headers={"X-Twilio-Signature": portless})
    assert response.status_code == 204
    assert await event_count(session) == 1


async def test_retried_callbacks_are_stored_once_and_change_nothing_more(
    client: AsyncClient, session: AsyncSession, live_attempt: Attempt
) -> None:
    rang = (datetime.now(UTC) - timedelta(minutes=1)).replace(microsecond=0)
    # Delivered a minute late (a retry): the carrier's own timestamp is the truth.
    ringing = status_params(live_attempt, "ringing", Timestamp=format_datetime(rang))
    ended = status_params(live_attempt, "no-answer", CallDuration="0")
    for params in (ringing, ringing, ended, ended, ringing):
        assert await post_status(client, live_attempt, params) == 204
    assert await event_count(session) == 2
    await session.refresh(live_attempt)
    assert live_attempt.outcome == "rep_no_answer"
    assert live_attempt.rep_ringing_at == rang
    rep = await session.get(Rep, live_attempt.rep_id)
    assert rep is not None
    await session.refresh(rep)
    assert (rep.call_state, rep.missed_in_row) == ("idle", 1)
    lead = await session.get(Lead, live_attempt.lead_id)
    assert lead is not None
    await session.refresh(lead)
    assert lead.dial_due_at is not None and lead.live_ring_group is None


async def test_a_late_ringing_after_completed_does_not_reopen_the_attempt(
    client: AsyncClient, session: AsyncSession, live_attempt: Attempt
) -> None:
    await post_status(client, live_attempt, status_params(live_attempt, "busy"))
    await post_status(client, live_attempt, status_params(live_attempt, "in-progress"))
    await session.refresh(live_attempt)
    assert live_attempt.outcome == "rep_busy" and live_attempt.status == "ended"


async def test_whisper_names_the_lead_and_offers_the_choice(
    client: AsyncClient, session: AsyncSession, live_attempt: Attempt
) -> None:
    lead = await session.get(Lead, live_attempt.lead_id)
    assert lead is not None
    lead.full_name, lead.fields = "Ada Lovelace", {"message": "Quote for 3 rooms"}
    await session.flush()
    path = f"/twilio/voice/rep?attempt={live_attempt.id}"
    params = status_params(live_attempt, "in-progress")
    response = await client.post(path, data=params, headers=signed(path, params))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert "Ada Lovelace" in response.text and "Quote for 3 rooms" in response.text
    assert 'numDigits="1"' in response.text and "/twilio/voice/choice" in response.text


async def test_pressing_1_bridges_to_the_lead_with_the_source_caller_id(
    client: AsyncClient, session: AsyncSession, live_attempt: Attempt, source: Source
) -> None:
    source.caller_id = "+14155550199"
    await session.flush()
    path = f"/twilio/voice/choice?attempt={live_attempt.id}"
    params = status_params(live_attempt, "in-progress", Digits="1")
    response = await client.post(path, data=params, headers=signed(path, params))
    assert "<Dial" in response.text and 'answerOnBridge="true"' in response.text
    assert 'callerId="+14155550199"' in response.text and "+14155550142</Number>" in response.text
    again = await client.post(path, data=params, headers=signed(path, params))
    assert "<Dial" not in again.text  # a retried press cannot bridge twice


async def test_attempts_are_listed_with_filters(
    client: AsyncClient, session: AsyncSession, live_attempt: Attempt, api_key: dict[str, str]
) -> None:
    await post_status(client, live_attempt, status_params(live_attempt, "no-answer"))
    by_lead = await client.get(f"/v1/leads/{live_attempt.lead_id}/attempts", headers=api_key)
    assert [a["outcome"] for a in by_lead.json()] == ["rep_no_answer"]
    by_rep = await client.get(f"/v1/attempts?rep_id={live_attempt.rep_id}", headers=api_key)
    assert [a["id"] for a in by_rep.json()["data"]] == [str(live_attempt.id)]
    connected = await client.get("/v1/attempts?outcome=connected", headers=api_key)
    assert connected.json()["data"] == []
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    none_later = await client.get("/v1/attempts", params={"created_after": later}, headers=api_key)
    assert none_later.json()["data"] == []
    bad = await client.get("/v1/attempts?outcome=maybe", headers=api_key)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "outcome"
    unknown = await client.get(f"/v1/leads/{uuid4()}/attempts", headers=api_key)
    assert unknown.status_code == 404


async def test_team_routing_is_set_through_the_api(
    client: AsyncClient, api_key: dict[str, str]
) -> None:
    put = await client.put(
        "/v1/teams/closers", json={"routing": "simultaneous", "ring_group_size": 3}, headers=api_key
    )
    assert put.status_code == 200 and put.json()["routing"] == "simultaneous"
    listed = await client.get("/v1/teams", headers=api_key)
    assert [t["slug"] for t in listed.json()["data"]] == ["closers"]
    bad = await client.put("/v1/teams/closers", json={"routing": "random"}, headers=api_key)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "routing"


async def test_progress_callbacks_stamp_once_end_the_claim_and_tell_integrators(
    client: AsyncClient, session: AsyncSession, live_attempt: Attempt
) -> None:
    sid = live_attempt.rep_call_sid
    assert sid is not None
    live_attempt.rep_call_sid = None  # the callbacks came before calls.create returned
    rep = await session.get(Rep, live_attempt.rep_id)
    assert rep is not None
    rep.claim_expires_at = datetime.now(UTC) + timedelta(minutes=1)
    await session.flush()
    params = {"CallSid": sid}
    for status in ("initiated", "ringing", "ringing", "in-progress", "in-progress"):
        assert await post_status(client, live_attempt, {**params, "CallStatus": status}) == 204
    assert await event_count(session) == 3
    await session.refresh(live_attempt)
    await session.refresh(rep)
    assert live_attempt.rep_call_sid == sid and rep.claim_expires_at is None
    assert live_attempt.rep_ringing_at is not None and live_attempt.rep_answered_at is not None
    assert live_attempt.outcome is None and live_attempt.ended_at is None
    lead = await session.get(Lead, live_attempt.lead_id)
    assert lead is not None
    await session.refresh(lead)
    assert lead.first_rep_answered_at == live_attempt.rep_answered_at
    ringing = list(await session.scalars(select(Event).where(Event.type == "call.rep_ringing")))
    as_it_rang = {**attempt_data(live_attempt), "rep_answered_at": None}  # answered later
    assert [event.data for event in ringing] == [as_it_rang]
    assert ringing[0].lead_id == live_attempt.lead_id


async def test_a_progress_callback_for_an_unknown_attempt_stores_nothing(
    client: AsyncClient, session: AsyncSession, live_attempt: Attempt
) -> None:
    params = status_params(live_attempt, "ringing")
    path = f"/twilio/status/rep?attempt={uuid4()}"
    response = await client.post(path, data=params, headers=signed(path, params))
    assert response.status_code == 204
    assert await event_count(session) == 0
    assert await session.scalar(select(func.count()).select_from(Event)) == 0


async def test_an_answer_after_the_lead_was_taken_or_the_call_ended_hears_goodbye(
    client: AsyncClient, session: AsyncSession, live_attempt: Attempt
) -> None:
    path = f"/twilio/voice/rep?attempt={live_attempt.id}"
    params = status_params(live_attempt, "in-progress")
    lead = await session.get(Lead, live_attempt.lead_id)
    assert lead is not None
    lead.accepted_attempt_id = uuid4()  # another rep of the ring group pressed 1 first
    await session.flush()
    taken = await client.post(path, data=params, headers=signed(path, params))
    assert "Another rep has taken this lead" in taken.text and "<Gather" not in taken.text
    await session.refresh(live_attempt)
    await session.refresh(lead)
    assert live_attempt.rep_answered_at is not None
    assert lead.first_rep_answered_at == live_attempt.rep_answered_at
    live_attempt.ended_at, lead.accepted_attempt_id = datetime.now(UTC), None
    await session.flush()
    ended = await client.post(path, data=params, headers=signed(path, params))
    assert "Another rep has taken this lead" in ended.text and "<Gather" not in ended.text


async def test_a_1_pressed_for_a_closed_lead_passes_it_and_bridges_nothing(
    client: AsyncClient, session: AsyncSession, live_attempt: Attempt
) -> None:
    lead = await session.get(Lead, live_attempt.lead_id)
    assert lead is not None
    lead.status = "opted_out"  # the person opted out while the rep's phone rang
    await session.flush()
    path = f"/twilio/voice/choice?attempt={live_attempt.id}"
    params = status_params(live_attempt, "in-progress", Digits="1")
    response = await client.post(path, data=params, headers=signed(path, params))
    assert "<Dial" not in response.text and "Passing this lead on" in response.text
    await session.refresh(live_attempt)
    await session.refresh(lead)
    assert (live_attempt.outcome, live_attempt.digits) == ("canceled", "1")
    assert live_attempt.rep_accepted_at is None and lead.accepted_attempt_id is None
    assert lead.live_ring_group is None and lead.status == "opted_out"


async def test_pressing_1_stamps_the_winning_attempt(
    client: AsyncClient, session: AsyncSession, live_attempt: Attempt
) -> None:
    path = f"/twilio/voice/choice?attempt={live_attempt.id}"
    params = status_params(live_attempt, "in-progress", Digits="1")
    response = await client.post(path, data=params, headers=signed(path, params))
    assert 'callerId="' + get_settings().caller_id + '"' in response.text
    await session.refresh(live_attempt)
    lead = await session.get(Lead, live_attempt.lead_id)
    assert lead is not None
    await session.refresh(lead)
    assert (live_attempt.status, live_attempt.digits) == ("bridging", "1")
    assert live_attempt.rep_accepted_at is not None and live_attempt.outcome is None
    assert (lead.accepted_attempt_id, lead.status) == (live_attempt.id, "connecting")


async def post_dial_result(client: AsyncClient, attempt: Attempt, params: dict[str, str]) -> str:
    path = f"/twilio/voice/dial-result?attempt={attempt.id}"
    response = await client.post(path, data=params, headers=signed(path, params))
    assert response.status_code == 200
    return response.text


@pytest.mark.parametrize(
    ("params", "outcome", "answered_by", "asks"),
    [
        ({"DialCallStatus": "completed", "AnsweredBy": "human"}, "connected", "human", True),
        (
            {"DialCallStatus": "completed", "AnsweredBy": "machine_start"},
            "lead_voicemail",
            "machine_start",
            False,
        ),
        ({"DialCallStatus": "busy"}, "lead_busy", None, False),
        ({"DialCallStatus": "no-answer"}, "lead_no_answer", None, False),
        ({"DialCallStatus": "something-new"}, "failed", None, False),
    ],
)
async def test_the_dial_result_sets_the_outcome_once(
    client: AsyncClient,
    session: AsyncSession,
    live_attempt: Attempt,
    params: dict[str, str],
    outcome: str,
    answered_by: str | None,
    asks: bool,
) -> None:
    lead = await session.get(Lead, live_attempt.lead_id)
    assert lead is not None
    answered = datetime.now(UTC).replace(microsecond=0)
    live_attempt.lead_answered_at = answered  # the lead leg's answer came first
    await session.flush()
    first = {**params, "DialCallSid": "CA" + "2" * 32, "DialCallDuration": "42"}
    document = await post_dial_result(client, live_attempt, first)
    assert ("/twilio/voice/disposition" in document) is asks
    retry = {**first, "DialCallStatus": "failed", "AnsweredBy": "fax", "DialCallDuration": "1"}
    assert (
        "/twilio/voice/disposition" in await post_dial_result(client, live_attempt, retry)
    ) is asks
    await session.refresh(live_attempt)
    await session.refresh(lead)
    assert (live_attempt.outcome, live_attempt.answered_by) == (outcome, answered_by)
    assert (live_attempt.talk_seconds, live_attempt.lead_call_sid) == (42, "CA" + "2" * 32)
    assert lead.connected_at == (answered if outcome == "connected" else None)


async def test_a_dial_result_keeps_a_machine_the_lead_leg_reported(
    client: AsyncClient, session: AsyncSession, live_attempt: Attempt
) -> None:
    live_attempt.answered_by = "machine_end_beep"
    await session.flush()
    document = await post_dial_result(client, live_attempt, {"DialCallStatus": "completed"})
    assert "/twilio/voice/disposition" not in document
    await session.refresh(live_attempt)
    assert (live_attempt.outcome, live_attempt.answered_by) == (
        "lead_voicemail",
        "machine_end_beep",
    )


async def post_lead_status(client: AsyncClient, attempt: Attempt, params: dict[str, str]) -> None:
    path = f"/twilio/status/lead?attempt={attempt.id}"
    response = await client.post(path, data=params, headers=signed(path, params))
    assert response.status_code == 204


async def events_of(session: AsyncSession, type: str) -> list[Event]:
    return list(await session.scalars(select(Event).where(Event.type == type)))


async def test_the_lead_leg_answering_is_stamped_once_and_told_once(
    client: AsyncClient, session: AsyncSession, live_attempt: Attempt
) -> None:
    lead_sid = "CA" + "3" * 32
    answered = {"CallSid": lead_sid, "CallStatus": "in-progress", "AnsweredBy": "human"}
    for params in (answered, answered, {"CallSid": lead_sid, "CallStatus": "completed"}):
        await post_lead_status(client, live_attempt, params)
    assert await event_count(session) == 2
    await session.refresh(live_attempt)
    assert (live_attempt.lead_call_sid, live_attempt.answered_by) == (lead_sid, "human")
    assert live_attempt.lead_answered_at is not None
    [connected] = await events_of(session, "call.connected")
    assert connected.data == attempt_data(live_attempt) and connected.lead_id is not None


async def test_a_lead_answer_after_the_dial_result_sets_connected_at_and_tells_nobody(
    client: AsyncClient, session: AsyncSession, live_attempt: Attempt
) -> None:
    await post_dial_result(client, live_attempt, {"DialCallStatus": "completed"})
    answered = {"CallSid": "CA" + "3" * 32, "CallStatus": "in-progress"}
    await post_lead_status(client, live_attempt, answered)
    await session.refresh(live_attempt)
    lead = await session.get(Lead, live_attempt.lead_id)
    assert lead is not None
    await session.refresh(lead)
    assert live_attempt.outcome == "connected" and live_attempt.lead_answered_at is not None
    assert lead.connected_at == live_attempt.lead_answered_at
    assert await events_of(session, "call.connected") == []


async def test_a_machine_on_the_lead_leg_turns_a_connection_into_a_voicemail(
    client: AsyncClient, session: AsyncSession, live_attempt: Attempt
) -> None:
    await post_dial_result(client, live_attempt, {"DialCallStatus": "completed"})
    machine = {"CallSid": "CA" + "3" * 32, "CallStatus": "completed", "AnsweredBy": "machine_start"}
    await post_lead_status(client, live_attempt, machine)
    await session.refresh(live_attempt)
    assert (live_attempt.outcome, live_attempt.answered_by) == ("lead_voicemail", "machine_start")


async def test_the_disposition_is_kept_once_on_the_attempt_and_the_lead(
    client: AsyncClient, session: AsyncSession, live_attempt: Attempt
) -> None:
    path = f"/twilio/voice/disposition?attempt={live_attempt.id}"
    answers = []
    for digits in ("9", "2", "1"):
        params = status_params(live_attempt, "in-progress", Digits=digits)
        response = await client.post(path, data=params, headers=signed(path, params))
        answers.append("Thank you." in response.text)
    assert answers == [False, True, False]
    await session.refresh(live_attempt)
    lead = await session.get(Lead, live_attempt.lead_id)
    assert lead is not None
    await session.refresh(lead)
    assert live_attempt.disposition == lead.disposition == "not_interested"
    assert live_attempt.disposition_at is not None
    assert live_attempt.disposition_at == lead.disposition_at
    [told] = await events_of(session, "lead.disposition")
    assert told.data == {**attempt_data(live_attempt), "disposition": "not_interested"}


@pytest.mark.parametrize("query", ["", "?attempt=", "?attempt=not-a-uuid"])
async def test_a_callback_without_a_valid_attempt_is_422_and_stores_nothing(
    client: AsyncClient, session: AsyncSession, live_attempt: Attempt, query: str
) -> None:
    params = status_params(live_attempt, "ringing")
    for route in ("/twilio/status/rep", "/twilio/voice/rep"):
        path = route + query
        response = await client.post(path, data=params, headers=signed(path, params))
        assert response.status_code == 422
        assert response.json()["error"]["field"] == "attempt"
        forged = await client.post(path, data=params, headers={"X-Twilio-Signature": "x"})
        assert forged.status_code == 403  # the signature is checked first, as before
    assert await event_count(session) == 0


async def test_events_a_statement_writes_carry_attempt_data_exactly(
    session: AsyncSession, live_attempt: Attempt
) -> None:
    """The one-statement callbacks build an event's data in SQL (outcomes.event_data): the same
    JSON as attempt_data, whole seconds and missing values included."""
    live_attempt.create_sent_at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    live_attempt.rep_answered_at = datetime(2026, 1, 2, 3, 4, 6, 70, tzinfo=UTC)
    live_attempt.ring_seconds, live_attempt.outcome = 1, "connected"
    await session.flush()
    columns = outcomes.RETURNED_COLUMNS
    connection = await driver_connection(session)
    data = await connection.fetchval(
        f"SELECT {outcomes.event_data('a')} FROM (SELECT {columns} FROM attempts"
        " WHERE id = $1) AS a",
        live_attempt.id,
    )
    assert data == attempt_data(live_attempt)
    assert data["create_sent_at"] == "2026-01-02T03:04:05+00:00" and data["ended_at"] is None


async def owed_deliveries(session: AsyncSession) -> list[tuple[str, str]]:
    rows = await session.execute(
        select(Event.type, WebhookEndpoint.url)
        .join(WebhookDelivery, WebhookDelivery.event_id == Event.id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .order_by(Event.type)
    )
    return [(type, url) for type, url in rows]


@pytest.mark.parametrize("wanted", [True, False])
async def test_call_events_are_owed_to_the_endpoints_that_want_them_and_wake_a_sender(
    client: AsyncClient,
    session: AsyncSession,
    live_attempt: Attempt,
    arq_redis: ArqRedis,
    wanted: bool,
) -> None:
    types = ["call.rep_ringing", "call.connected", "attempt.completed"] if wanted else []
    session.add(
        WebhookEndpoint(
            url="https://crm.example/hooks",
            secret="whsec_test",
            event_types=types or ["lead.received"],
        )
    )
    await session.flush()
    await post_status(client, live_attempt, status_params(live_attempt, "ringing"))
    answered = {"CallSid": "CA" + "3" * 32, "CallStatus": "in-progress", "AnsweredBy": "human"}
    await post_lead_status(client, live_attempt, answered)
    await post_status(client, live_attempt, status_params(live_attempt, "completed"))
    url = "https://crm.example/hooks"
    assert await owed_deliveries(session) == [(type, url) for type in sorted(types)]
    queued = {job.function for job in await arq_redis.queued_jobs()}
    assert ("deliver_webhooks" in queued) is wanted
