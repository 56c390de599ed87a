"""The dial, end to end: a real worker process, real Postgres and Redis, the carrier sandbox."""

from tests.calls.conftest import Stack, eventually, wait_settled

LEAD = "+14155550142"
REP_A, REP_B, REP_C = "+14155550101", "+14155550102", "+14155550103"
ANSWER_AND_ACCEPT = {"answer": "human", "answer_after_s": 1, "digits": "1"}


async def test_rep_presses_1_and_is_bridged_to_the_lead(stack: Stack) -> None:
    await stack.add_source()
    rep = await stack.add_rep("Dana", REP_A)
    await stack.script(REP_A, **ANSWER_AND_ACCEPT)
    lead_id = await stack.send_lead(LEAD, message="Call me about pricing")
    await wait_settled(stack, lead_id)
    lead = await stack.lead(lead_id)
    assert lead.status == "connected" and lead.connected_at is not None
    [attempt] = await stack.attempts(lead_id)
    assert attempt.outcome == "connected" and attempt.rep_id == rep.id and attempt.digits == "1"
    stamps = [
        attempt.webhook_received_at,
        attempt.job_started_at,
        attempt.create_sent_at,
        attempt.sid_returned_at,
        attempt.rep_answered_at,
        attempt.rep_accepted_at,
        attempt.lead_answered_at,
        attempt.ended_at,
    ]
    assert all(stamps), stamps
    assert stamps[0] <= stamps[1] <= stamps[2] <= stamps[3]
    assert attempt.talk_seconds and attempt.total_seconds and attempt.lead_call_sid
    [rep_call] = await stack.calls_to(REP_A)
    assert rep_call["sid"] == attempt.rep_call_sid
    whisper = str(rep_call["played"])
    assert "Ada Lovelace" in whisper and "pricing" in whisper
    assert len(await stack.calls_to(LEAD)) == 1
    freed = await stack.rep(rep.id)
    assert freed.call_state == "idle" and freed.current_attempt_id is None


async def test_rep_no_answer_hands_the_lead_to_the_next_rep(stack: Stack) -> None:
    await stack.add_source()
    await stack.add_rep("Missy", REP_A, idle_minutes=10)
    await stack.add_rep("Bo", REP_B, idle_minutes=5)
    await stack.script(REP_A, answer="no-answer")
    await stack.script(REP_B, **ANSWER_AND_ACCEPT)
    lead_id = await stack.send_lead(LEAD)
    await wait_settled(stack, lead_id)
    first, second = await stack.attempts(lead_id)
    assert (first.outcome, second.outcome) == ("rep_no_answer", "connected")
    assert (await stack.lead(lead_id)).status == "connected"


async def test_rep_voicemail_pressing_nothing_passes_to_the_next_rep(stack: Stack) -> None:
    await stack.add_source()
    await stack.add_rep("Vic", REP_A, idle_minutes=10)
    await stack.add_rep("Bo", REP_B, idle_minutes=5)
    await stack.script(REP_A, answer="machine", answer_after_s=1)
    await stack.script(REP_B, **ANSWER_AND_ACCEPT)
    lead_id = await stack.send_lead(LEAD)
    await wait_settled(stack, lead_id)
    first, second = await stack.attempts(lead_id)
    assert (first.outcome, first.digits) == ("rep_no_answer", "")
    assert second.outcome == "connected"


async def test_rep_pressing_3_declines_and_the_next_rep_gets_the_lead(stack: Stack) -> None:
    await stack.add_source()
    await stack.add_rep("Dee", REP_A, idle_minutes=10)
    await stack.add_rep("Bo", REP_B, idle_minutes=5)
    await stack.script(REP_A, answer="human", answer_after_s=1, digits="3")
    await stack.script(REP_B, **ANSWER_AND_ACCEPT)
    lead_id = await stack.send_lead(LEAD)
    await wait_settled(stack, lead_id)
    first, second = await stack.attempts(lead_id)
    assert (first.outcome, first.digits, second.outcome) == ("rep_declined", "3", "connected")
    assert (await stack.rep(first.rep_id)).missed_in_row == 0


async def test_a_rep_who_misses_twice_in_a_row_is_set_away(stack: Stack) -> None:
    await stack.add_source()
    rep = await stack.add_rep("Sleepy", REP_A)
    await stack.script(REP_A, answer="no-answer")
    for phone in (LEAD, "+14155550143"):
        lead_id = await stack.send_lead(phone)
        await wait_settled(stack, lead_id)
        assert (await stack.lead(lead_id)).status == "unreached"
    away = await stack.rep(rep.id)
    assert away.availability == "away" and away.missed_in_row == 2
    assert away.availability_reason == "missed 2 calls in a row"


async def test_no_rep_free_the_lead_waits_and_is_dialed_when_one_frees_up(stack: Stack) -> None:
    from tests.conftest import create_live_api_key

    await stack.add_source()
    rep = await stack.add_rep("Later", REP_A, availability="away")
    await stack.script(REP_A, **ANSWER_AND_ACCEPT)
    lead_id = await stack.send_lead(LEAD)

    async def waiting() -> bool:
        return (await stack.lead(lead_id)).status == "waiting"

    await eventually(waiting, what="the lead to wait")
    headers = await create_live_api_key(stack.sessions)
    response = await stack.api.patch(
        f"/v1/reps/{rep.id}", json={"availability": "available"}, headers=headers
    )
    assert response.status_code == 200
    await wait_settled(stack, lead_id, within=3)
    assert (await stack.lead(lead_id)).status == "connected"


async def test_a_rep_finishing_a_call_takes_the_oldest_waiting_lead(stack: Stack) -> None:
    await stack.add_source()
    await stack.add_rep("Solo", REP_A)
    await stack.script(REP_A, **ANSWER_AND_ACCEPT)
    first = await stack.send_lead(LEAD)
    second = await stack.send_lead("+14155550143")
    third = await stack.send_lead("+14155550144")
    for lead_id in (first, second, third):
        await wait_settled(stack, lead_id)
    connected = [
        (await stack.attempts(lead_id))[0].created_at for lead_id in (first, second, third)
    ]
    assert connected == sorted(connected)


async def test_lead_no_answer_and_voicemail_are_logged(stack: Stack) -> None:
    await stack.add_source()
    await stack.add_rep("Dana", REP_A)
    await stack.script(REP_A, **ANSWER_AND_ACCEPT)
    await stack.script(LEAD, answer="no-answer")
    await stack.script("+14155550143", answer="machine", answer_after_s=1)
    no_answer = await stack.send_lead(LEAD)
    await wait_settled(stack, no_answer)
    voicemail = await stack.send_lead("+14155550143")
    await wait_settled(stack, voicemail)
    [missed] = await stack.attempts(no_answer)
    [machine] = await stack.attempts(voicemail)
    assert missed.outcome == "lead_no_answer"
    assert machine.outcome == "lead_voicemail" and (machine.answered_by or "").startswith("machine")
    assert (await stack.lead(no_answer)).status == "unreached"


async def test_carrier_429_and_5xx_are_retried_inside_the_budget(stack: Stack) -> None:
    await stack.add_source()
    await stack.add_rep("Dana", REP_A)
    await stack.script(REP_A, **ANSWER_AND_ACCEPT)
    await stack.control.put("/_sandbox/faults", json={"calls_create": [503, 429, 500]})
    lead_id = await stack.send_lead(LEAD)
    await wait_settled(stack, lead_id)
    [attempt] = await stack.attempts(lead_id)
    assert (attempt.outcome, attempt.carrier_retries) == ("connected", 3)
    served = (await stack.control.get("/_sandbox/faults")).json()["served"]
    assert [fault["fault"] for fault in served] == [503, 429, 500]


async def test_a_carrier_outage_longer_than_the_budget_fails_the_attempt(stack: Stack) -> None:
    await stack.add_source()
    rep = await stack.add_rep("Dana", REP_A)
    await stack.control.put(
        "/_sandbox/faults", json={"calls_create_rate": {"status": 503, "seconds": 30}}
    )
    lead_id = await stack.send_lead(LEAD)

    async def failed() -> bool:
        attempts = await stack.attempts(lead_id)
        return bool(attempts) and attempts[0].outcome == "failed"

    await eventually(failed, 15, "the attempt to fail")
    [attempt] = await stack.attempts(lead_id)
    assert attempt.carrier_retries >= 3 and "503" in (attempt.error or "")
    lead = await stack.lead(lead_id)
    assert lead.status == "unreached" and lead.dial_due_at is not None
    assert (await stack.rep(rep.id)).call_state == "idle"
    await stack.control.delete("/_sandbox/faults")


async def test_simultaneous_ring_first_to_press_1_wins_and_the_others_stop(stack: Stack) -> None:
    from tests.conftest import create_live_api_key

    headers = await create_live_api_key(stack.sessions)
    await stack.api.put(
        "/v1/teams/default", json={"routing": "simultaneous", "ring_group_size": 3}, headers=headers
    )
    await stack.add_source()
    for name, phone in (("Quick", REP_A), ("Slow", REP_B), ("Slower", REP_C)):
        await stack.add_rep(name, phone)
    await stack.script(REP_A, **ANSWER_AND_ACCEPT)
    await stack.script(REP_B, answer="human", answer_after_s=15, digits="1")
    await stack.script(REP_C, answer="human", answer_after_s=15, digits="1")
    lead_id = await stack.send_lead(LEAD)
    await wait_settled(stack, lead_id)
    attempts = await stack.attempts(lead_id)
    assert len({a.ring_group for a in attempts}) == 1
    assert sorted(a.outcome or "" for a in attempts) == ["canceled", "canceled", "connected"]
    for phone in (REP_B, REP_C):  # hung up whether still ringing or already in the whisper
        [loser] = await stack.calls_to(phone)
        assert loser["status"] in ("canceled", "completed")
    assert len(await stack.calls_to(LEAD)) == 1


async def test_round_robin_offers_reps_in_turn(stack: Stack) -> None:
    from tests.conftest import create_live_api_key

    headers = await create_live_api_key(stack.sessions)
    await stack.api.put("/v1/teams/default", json={"routing": "round_robin"}, headers=headers)
    await stack.add_source()
    reps = [await stack.add_rep(f"R{i}", phone) for i, phone in enumerate((REP_A, REP_B, REP_C))]
    for phone in (REP_A, REP_B, REP_C):
        await stack.script(phone, **ANSWER_AND_ACCEPT)
    offered = []
    for i in range(6):
        lead_id = await stack.send_lead(f"+1415555015{i}")
        await wait_settled(stack, lead_id)
        offered.append((await stack.attempts(lead_id))[0].rep_id)
    assert offered[:3] == offered[3:] and len(set(offered)) == 3
    assert set(offered) == {rep.id for rep in reps}


async def test_a_dial_writes_its_events_as_they_happen(stack: Stack) -> None:
    from sqlalchemy import select

    from app.models import Event

    await stack.add_source()
    await stack.add_rep("Dana", REP_A)
    await stack.script(REP_A, **ANSWER_AND_ACCEPT)
    lead_id = await stack.send_lead(LEAD)
    await wait_settled(stack, lead_id)
    async with stack.sessions() as session:
        events = list(
            await session.scalars(
                select(Event).where(Event.lead_id == lead_id).order_by(Event.created_at)
            )
        )
    types = [event.type for event in events]
    # The rep presses 1 at every prompt: to take the lead, then "interested" after the call.
    assert types == [
        "lead.received",
        "call.rep_ringing",
        "call.connected",
        "lead.disposition",
        "attempt.completed",
    ]
    assert events[-1].data["outcome"] == "connected"
