"""The <Dial> verb: ring a second phone as a child leg, bridge, then report to the Dial action."""

import asyncio

from sandbox.calls import CallRun, TwimlSource
from sandbox.interpreter import Interpreter, Step
from sandbox.network import dial_leg
from sandbox.records import log_entry
from sandbox.twiml import Verb, dial_targets


async def run_dial(interpreter: Interpreter, dial: Verb) -> Step:
    targets = dial_targets(dial)
    if not targets:
        return None
    target = targets[0]  # the sandbox rings only the first <Number> of a Dial
    parent = interpreter.call
    child = dial_leg(parent, target, dial, interpreter.resolve(target.attr("url")))
    interpreter.record.played.append(
        log_entry(verb="Dial", text=child.record.to, attrs=dial.attrs, child=child.record.sid)
    )
    action = _action_url(interpreter, dial)
    try:
        await child.finished.wait()
    except asyncio.CancelledError:  # the parent hung up, was redirected or ended by the API
        child.stop("completed" if child.answered else "canceled")
        if action is not None:
            parent.deliver(
                "action",
                action,
                _method(dial),
                {**parent.call_params(), **outcome(child)},
            )
        raise
    if action is None:
        return None  # without an action, the call goes on with the verb after <Dial>
    return TwimlSource(url=action, method=_method(dial), extra=outcome(child))


def outcome(child: CallRun) -> dict[str, str]:
    """The Dial action's parameters about the dialed leg."""
    return {
        "DialCallStatus": child.record.status,
        "DialCallSid": child.record.sid,
        "DialCallDuration": str(child.record.duration_s or 0),
        "DialBridged": "true" if child.answered else "false",
    }


def _action_url(interpreter: Interpreter, dial: Verb) -> str | None:
    return interpreter.resolve(dial.attr("action"))


def _method(dial: Verb) -> str:
    return dial.attr("method", "POST").upper()
