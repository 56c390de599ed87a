"""The reference validator: openapi-core on every request (slow, ~7 ms; tests check parity)."""

from typing import Any

from jsonschema.exceptions import ValidationError
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from sandbox import errors
from sandbox.errors import TwilioApiError
from sandbox.validation import (
    API_HOST,
    FORM,
    ApiRequest,
    check_unknown,
    load_spec,
    request_body_schema,
    schema_error,
)


class CoreRequest:
    """An ApiRequest seen through openapi-core's Request protocol."""

    def __init__(self, request: ApiRequest) -> None:
        self.host_url = API_HOST
        self.path = request.path
        self.method = request.operation.method
        self.body: bytes | None = request.body or None
        self.content_type = FORM if request.operation.method == "post" else ""
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(request.query)),
            header=Headers({"Authorization": request.authorization}),
        )


class OpenApiCoreValidator:
    def __init__(self) -> None:
        self._api = OpenAPI.from_dict(load_spec())

    def validate(self, request: ApiRequest) -> dict[str, Any]:
        if request.operation.method == "post":
            body = request_body_schema(request.operation) or {}
            check_unknown(request, body.get("properties", {}))
        result = self._api.unmarshal_request(CoreRequest(request))
        for error in result.errors:
            raise self._refusal(request, error)
        if request.operation.method == "post":
            return dict(result.body or {})
        return dict(result.parameters.query)

    @staticmethod
    def _refusal(request: ApiRequest, error: Exception) -> TwilioApiError:
        if getattr(error, "location", None) == "path":  # a malformed SID names no resource
            return errors.not_found(request.path)
        cause = error.__cause__
        schema_errors: tuple[ValidationError, ...] = getattr(cause, "schema_errors", ())
        if schema_errors:
            return schema_error(request.operation, schema_errors)
        detail = str(cause or error) or type(cause or error).__name__
        return errors.bad_request(errors.INVALID_PARAMETER, f"Invalid parameter: {detail}")
