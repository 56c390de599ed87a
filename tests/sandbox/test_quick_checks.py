"""The validators' quick checks pass only what the spec's schemas pass, and pass everyday requests.

A quick check that wrongly refuses only costs time (the full validator decides); one that wrongly
passes would let a request through that Twilio refuses. Every property of every operation is tried.
"""

from typing import Any

import pytest
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from sandbox.validation import (
    ALL_OPERATIONS,
    CALLS_CREATE,
    CompiledOperation,
    object_check,
    value_check,
)

SAMPLES: list[Any] = [
    "",
    "x",
    "+14155550100",
    "client:ada",
    "http://product.test/twilio/voice?attempt=1",
    "ftp://x",
    "GET",
    "POST",
    "PUT",
    "get",
    "initiated",
    "completed",
    "bogus",
    "AC" + "0" * 31 + "1",
    "CA" + "f" * 32,
    "CA" + "f" * 33,
    "2026-11-28T12:00:00Z",
    "2026-13-45",
    "<Response/>",
    0,
    -1,
    20,
    2**40,
    1.5,
    True,
    False,
    None,
    [],
    ["initiated", "ringing"],
    ["bogus"],
    [1],
    {},
]
OPERATIONS = [CompiledOperation.compile(op) for op in ALL_OPERATIONS]
PROPERTIES = [
    (name, schema)
    for compiled in OPERATIONS
    for properties in (
        compiled.path_properties,
        compiled.query_properties,
        compiled.form_properties,
    )
    for name, schema in properties.items()
]


@pytest.mark.parametrize(("name", "schema"), PROPERTIES, ids=[n for n, _ in PROPERTIES])
def test_a_quick_check_never_passes_a_refused_value(name: str, schema: dict[str, Any]) -> None:
    check = value_check(schema)
    full = OAS30Validator(schema, format_checker=oas30_format_checker)
    wrongly_passed = [v for v in SAMPLES if check(v) and not full.is_valid(v)]
    assert wrongly_passed == []


def test_objects_need_their_required_properties() -> None:
    schema = {
        "type": "object",
        "properties": {"To": {"type": "string"}, "Timeout": {"type": "integer"}},
        "required": ["To"],
    }
    passes = object_check(schema)
    assert passes({"To": "+14155550100", "Timeout": 20})
    assert not passes({"Timeout": 20})
    assert not passes({"To": "+14155550100", "Timeout": "soon"})
    assert not object_check({**schema, "additionalProperties": False})({"To": "x"})


def test_a_usual_calls_create_passes_quickly() -> None:
    compiled = CompiledOperation.compile(CALLS_CREATE)
    form = {
        "To": "+15550001111",
        "From": "+14155550100",
        "Url": "http://product.test/twilio/voice/rep?attempt=1",
        "StatusCallback": "http://product.test/twilio/status/rep?attempt=1",
        "StatusCallbackEvent": ["initiated", "ringing", "answered", "completed"],
        "StatusCallbackMethod": "POST",
        "MachineDetection": "Enable",
        "Timeout": 20,
    }
    assert compiled.form_check(form)
    assert compiled.path_check({"AccountSid": "AC" + "0" * 31 + "1"})
    assert not compiled.path_check({"AccountSid": "nope"})
