"""Validate REST requests against Twilio's own OpenAPI description (vendored in spec/).

Two validators share one interface. `OpenApiCoreValidator` runs openapi-core on every request: it
is the reference, but costs ~7 ms per calls.create on a small machine. `CompiledValidator` (the
default) compiles the same request schemas once into jsonschema validators and casts form values
the way openapi-core does. Before running them it tries quick checks built from the same schemas
(required names present; each value's type, format and enum; anything else by a validator of
that property, remembered per string): they pass only what the validators pass, so only a
request they refuse pays for the full validator and its error. Tests keep all three in agreement.
"""

import copy
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from sandbox import errors
from sandbox.errors import TwilioApiError

SPEC_FILE = Path(__file__).parent / "spec" / "twilio_api_v2010_sandbox.json"
API_HOST = "https://api.twilio.com"
FORM = "application/x-www-form-urlencoded"
Pairs = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class OperationRef:
    path: str
    method: str


CALLS_PATH = "/2010-04-01/Accounts/{AccountSid}/Calls.json"
CALL_PATH = "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json"
MESSAGES_PATH = "/2010-04-01/Accounts/{AccountSid}/Messages.json"
MESSAGE_PATH = "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json"
CALLS_CREATE = OperationRef(CALLS_PATH, "post")
CALLS_LIST = OperationRef(CALLS_PATH, "get")
CALL_FETCH = OperationRef(CALL_PATH, "get")
CALL_UPDATE = OperationRef(CALL_PATH, "post")
MESSAGES_CREATE = OperationRef(MESSAGES_PATH, "post")
MESSAGES_LIST = OperationRef(MESSAGES_PATH, "get")
MESSAGE_FETCH = OperationRef(MESSAGE_PATH, "get")

# Which Twilio code a missing required parameter earns, per operation.
MISSING_CODES = {
    (CALLS_CREATE, "To"): errors.CALL_MISSING_TO,
    (CALLS_CREATE, "From"): errors.CALL_MISSING_FROM,
    (MESSAGES_CREATE, "To"): errors.MESSAGE_MISSING_TO,
    (MESSAGES_CREATE, "From"): errors.MESSAGE_MISSING_FROM,
}


@dataclass(frozen=True)
class ApiRequest:
    """What the validators need from an HTTP request; the route builds it."""

    operation: OperationRef
    path: str
    authorization: str
    path_params: dict[str, str]
    query: Pairs = ()
    form: Pairs = ()
    body: bytes = b""


class RequestValidator(Protocol):
    def validate(self, request: ApiRequest) -> dict[str, Any]:
        """Return the cast parameters (query for GET, form for POST) or raise TwilioApiError."""


@lru_cache
def load_spec() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(SPEC_FILE.read_text())
    return spec


def resolve_refs(node: Any, spec: dict[str, Any]) -> Any:
    """Inline `#/components/...` references, so each compiled schema stands alone."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            target: Any = spec
            for part in ref.removeprefix("#/").split("/"):
                target = target[part]
            return resolve_refs(copy.deepcopy(target), spec)
        return {k: resolve_refs(v, spec) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve_refs(v, spec) for v in node]
    return node


def check_unknown(request: ApiRequest, properties: Iterable[str]) -> None:
    """Twilio only warns about unknown parameters (20001); the sandbox refuses them (typos)."""
    known = set(properties)
    unknown = sorted({key for key, _ in request.form} - known)
    if unknown:
        raise errors.bad_request(
            errors.UNKNOWN_PARAMETER, f"Unknown parameters: {', '.join(unknown)}"
        )


def schema_error(operation: OperationRef, found: Iterable[ValidationError]) -> TwilioApiError:
    """Turn the first jsonschema error into the refusal Twilio gives for it."""
    error = min(found, key=lambda e: (e.validator != "required", list(e.path)))
    if error.validator == "required":
        missing = str(error.message).split("'")[1]
        code = MISSING_CODES.get((operation, missing), errors.INVALID_PARAMETER)
        return errors.bad_request(code, f"Required parameter {missing} missing.")
    field = ".".join(str(p) for p in error.path) or "body"
    return errors.bad_request(
        errors.INVALID_PARAMETER, f"Invalid parameter {field}: {error.message}"
    )


def request_body_schema(operation: OperationRef) -> dict[str, Any] | None:
    spec = load_spec()
    body = spec["paths"][operation.path][operation.method].get("requestBody")
    if body is None:
        return None
    schema: dict[str, Any] = resolve_refs(body["content"][FORM]["schema"], spec)
    return schema


def cast_value(key: str, raw: str, schema: dict[str, Any]) -> Any:
    """Cast one form value by its schema type, as openapi-core's casters do."""
    kind = schema.get("type")
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return float(raw)
        if kind == "boolean":
            return {"true": True, "false": False}[raw.lower()]
    except (ValueError, KeyError):
        message = f"Invalid parameter {key}: {raw!r} is not a valid {kind}"
        raise errors.bad_request(errors.INVALID_PARAMETER, message) from None
    return raw


def cast_pairs(pairs: Pairs, properties: dict[str, Any]) -> dict[str, Any]:
    """Repeated keys (the twilio library's encoding of lists) become lists for array properties."""
    values: dict[str, Any] = {}
    for key, raw in pairs:
        schema = properties.get(key)
        if schema is None:
            continue
        if schema.get("type") == "array":
            values.setdefault(key, []).append(cast_value(key, raw, schema.get("items", {})))
        else:
            values[key] = cast_value(key, raw, schema)
    return values


def parameter_properties(operation: OperationRef, location: str) -> dict[str, Any]:
    spec = load_spec()
    parameters = spec["paths"][operation.path][operation.method].get("parameters", [])
    return {p["name"]: resolve_refs(p["schema"], spec) for p in parameters if p["in"] == location}


def object_validator(properties: dict[str, Any], required: Iterable[str] = ()) -> OAS30Validator:
    schema = {"type": "object", "properties": properties, "required": list(required)}
    return OAS30Validator(schema, format_checker=oas30_format_checker)


# Keywords a quick check can test itself; anything else goes to a validator of the property.
QUICK_KEYWORDS = frozenset({"type", "format", "enum", "items"})
ANNOTATIONS = frozenset({"description", "title"})
OBJECT_KEYWORDS = frozenset({"type", "properties", "required", "title"})
# The OAS 3.0 type checker's own tests for these two types, without its lookup per call.
PLAIN_TYPES: dict[str, type] = {"string": str, "array": list}
ValueCheck = Callable[[Any], bool]


def value_check(schema: dict[str, Any]) -> ValueCheck:
    """A test that passes only values the full validator passes (a refusal is re-checked)."""
    keywords = {key for key in schema if key not in ANNOTATIONS}
    enum = schema.get("enum")
    if not keywords <= QUICK_KEYWORDS or not all(isinstance(e, str) for e in enum or ()):
        return remembered(OAS30Validator(schema, format_checker=oas30_format_checker).is_valid)
    kind: str | None = schema.get("type")
    plain = PLAIN_TYPES.get(kind or "")
    form: str | None = schema.get("format")
    checked_form = form if form in oas30_format_checker.checkers else None  # others always pass
    allowed = None if enum is None else frozenset(enum)
    items = None if "items" not in schema else value_check(schema["items"])
    is_type = OAS30Validator.TYPE_CHECKER.is_type

    def check(value: Any) -> bool:
        if value is None:
            return False  # it may be nullable: left to the validator
        if plain is not None:
            if not isinstance(value, plain):
                return False
        elif kind is not None and not is_type(value, kind):
            return False
        if allowed is not None and not (isinstance(value, str) and value in allowed):
            return False
        if items is not None and isinstance(value, list) and not all(map(items, value)):
            return False
        return checked_form is None or oas30_format_checker.conforms(value, checked_form)

    return check


def remembered(is_valid: ValueCheck) -> ValueCheck:
    """Strings (an account's SID on every request) are judged once; other values every time."""
    judged = lru_cache(maxsize=1024)(is_valid)

    def check(value: Any) -> bool:
        return judged(value) if isinstance(value, str) else is_valid(value)

    return check


def object_check(schema: dict[str, Any]) -> Callable[[Mapping[str, Any]], bool]:
    """The common case in one pass: required names present, each present property passes."""
    if set(schema) - OBJECT_KEYWORDS or schema.get("type") != "object":
        return lambda instance: False
    checks = {name: value_check(sub) for name, sub in schema.get("properties", {}).items()}
    required = tuple(schema.get("required", ()))

    def passes(instance: Mapping[str, Any]) -> bool:
        if any(name not in instance for name in required):
            return False
        for name, value in instance.items():
            check = checks.get(name)
            if check is not None and not check(value):
                return False
        return True

    return passes


@dataclass(frozen=True)
class CompiledOperation:
    path_properties: dict[str, Any]
    path_validator: OAS30Validator
    query_properties: dict[str, Any]
    query_validator: OAS30Validator
    form_properties: dict[str, Any]
    form_validator: OAS30Validator | None
    # Quick checks that pass what the validators pass; only a refusal runs the validator.
    path_check: Callable[[Mapping[str, Any]], bool]
    query_check: Callable[[Mapping[str, Any]], bool]
    form_check: Callable[[Mapping[str, Any]], bool]

    @classmethod
    def compile(cls, operation: OperationRef) -> "CompiledOperation":
        body = request_body_schema(operation)
        path_properties = parameter_properties(operation, "path")
        query_properties = parameter_properties(operation, "query")
        path_validator = object_validator(path_properties)
        query_validator = object_validator(query_properties)
        return cls(
            path_properties=path_properties,
            path_validator=path_validator,
            query_properties=query_properties,
            query_validator=query_validator,
            form_properties=dict(body.get("properties", {})) if body else {},
            form_validator=OAS30Validator(body, format_checker=oas30_format_checker)
            if body
            else None,
            path_check=object_check(path_validator.schema),
            query_check=object_check(query_validator.schema),
            form_check=object_check(body) if body else lambda instance: False,
        )


ALL_OPERATIONS = (
    CALLS_CREATE,
    CALLS_LIST,
    CALL_FETCH,
    CALL_UPDATE,
    MESSAGES_CREATE,
    MESSAGES_LIST,
    MESSAGE_FETCH,
)


class CompiledValidator:
    """The hot path: the spec's schemas compiled once at startup."""

    def __init__(self) -> None:
        self._operations = {op: CompiledOperation.compile(op) for op in ALL_OPERATIONS}

    def validate(self, request: ApiRequest) -> dict[str, Any]:
        compiled = self._operations[request.operation]
        path_values = cast_pairs(list(request.path_params.items()), compiled.path_properties)
        if not compiled.path_check(path_values) and any(
            True for _ in compiled.path_validator.iter_errors(path_values)
        ):
            raise errors.not_found(request.path)
        query = cast_pairs(request.query, compiled.query_properties)
        if not compiled.query_check(query):
            found = list(compiled.query_validator.iter_errors(query))
            if found:
                raise schema_error(request.operation, found)
        if compiled.form_validator is None:
            return query
        check_unknown(request, compiled.form_properties)
        form = cast_pairs(request.form, compiled.form_properties)
        if not compiled.form_check(form):
            found = list(compiled.form_validator.iter_errors(form))
            if found:
                raise schema_error(request.operation, found)
        return form
