"""Placing, changing and connecting calls: what the REST API and <Dial> ask of the network."""

from typing import Any

from sandbox import errors
from sandbox.calls import DEFAULT_TALK_S, Amd, CallRun, StatusCallbacks, TwimlSource
from sandbox.records import CallRecord
from sandbox.state import Sandbox
from sandbox.twiml import Verb

DEFAULT_RING_TIMEOUT_S = 60
MAX_RING_TIMEOUT_S = 600
RINGING = frozenset({"queued", "initiated", "ringing"})


def start(sandbox: Sandbox, run: CallRun) -> CallRun:
    sandbox.calls[run.record.sid] = run.record
    sandbox.runs[run.record.sid] = run
    sandbox.spawn(run.run())
    return run


def place_call(sandbox: Sandbox, params: dict[str, Any]) -> CallRecord:
    """calls.create: the parameters are already validated."""
    if params.get("ApplicationSid") and not params.get("Url") and not params.get("Twiml"):
        raise errors.bad_request(21218, "The sandbox has no TwiML Applications; use Url or Twiml")
    record = CallRecord(
        account_sid=sandbox.account_sid, to=params["To"], from_=params["From"], params=params
    )
    callbacks = StatusCallbacks(
        url=params.get("StatusCallback"),
        method=params.get("StatusCallbackMethod", "POST"),
        events=frozenset(params.get("StatusCallbackEvent") or ["completed"]),
    )
    timeout = params.get("Timeout", DEFAULT_RING_TIMEOUT_S)
    ring_timeout_s = min(max(timeout, 1), MAX_RING_TIMEOUT_S)
    run = CallRun(
        sandbox,
        record,
        source=source_from(params),
        ring_timeout_s=ring_timeout_s,
        callbacks=callbacks,
        amd=amd_from(params),
    )
    return start(sandbox, run).record


def source_from(params: dict[str, Any]) -> TwimlSource:
    if params.get("Twiml"):
        return TwimlSource(twiml=params["Twiml"])
    return TwimlSource(url=params["Url"], method=params.get("Method", "POST"))


def amd_from(params: dict[str, Any]) -> Amd | None:
    mode = params.get("MachineDetection")
    if mode not in ("Enable", "DetectMessageEnd"):
        return None
    return Amd(
        detect_message_end=mode == "DetectMessageEnd",
        is_async=str(params.get("AsyncAmd", "false")).lower() == "true",
        async_callback=params.get("AsyncAmdStatusCallback"),
        async_method=params.get("AsyncAmdStatusCallbackMethod", "POST"),
    )


def update_call(sandbox: Sandbox, sid: str, params: dict[str, Any]) -> CallRecord:
    run = sandbox.runs.get(sid)
    if run is None:
        raise errors.not_found(f"/Calls/{sid}.json")
    record = run.record
    if params.get("StatusCallback"):
        run.callbacks.url = params["StatusCallback"]
        run.callbacks.method = params.get("StatusCallbackMethod", run.callbacks.method)
    if params.get("Url") or params.get("Twiml"):
        redirect(run, source_from(params))
    status = params.get("Status")
    if status is not None and not record.ended:
        if record.status in RINGING:
            run.stop("canceled")
        elif status == "completed":
            run.stop("completed")
    return record


def redirect(run: CallRun, source: TwimlSource) -> None:
    if run.record.ended:
        message = "Call is not in-progress. Cannot redirect."
        raise errors.bad_request(errors.CALL_NOT_IN_PROGRESS, message)
    if run.record.status == "in-progress":
        run.redirect(source)
    else:
        run.source = source  # not answered yet: fetched on answer


def dial_leg(parent: CallRun, target: Verb, dial: Verb, resolve_url: str | None) -> CallRun:
    """Start the child leg a <Dial><Number> rings; it stays bridged until someone hangs up."""
    to = target.text.strip()
    if target.name == "Client" and not to.startswith("client:"):
        to = f"client:{to}"
    record = CallRecord(
        account_sid=parent.record.account_sid,
        to=to,
        from_=dial.attr("callerId") or parent.record.from_,
        params={"Dial": dial.attrs, target.name: target.attrs},
        direction="outbound-dial",
        parent_call_sid=parent.record.sid,
    )
    parent.record.child_call_sids.append(record.sid)
    callbacks = StatusCallbacks(
        url=target.attr("statusCallback") or None,
        method=target.attr("statusCallbackMethod", "POST").upper(),
        events=frozenset(target.attr("statusCallbackEvent", "completed").split()),
    )
    whisper = TwimlSource(url=resolve_url, method=target.attr("method", "POST").upper())
    run = CallRun(
        parent.sandbox,
        record,
        source=whisper if resolve_url else None,
        ring_timeout_s=dial.number("timeout", 30.0),
        callbacks=callbacks,
        amd=amd_from({"MachineDetection": target.attr("machineDetection")}),
        bridged=True,
        talk_limit_s=DEFAULT_TALK_S if parent.phone.hangup_after_s is None else None,
    )
    return start(parent.sandbox, run)
