"""The OpenAPI document lists every answer the server can give (docs/api.md, "Requests").

Each handler declares the answers its own logic gives (201, 404 for an unknown wallet,
409 for a reused idempotency key, ...). The answers that come from the machinery every
operation goes through are added here, derived from what the operation is, so an
operation added later is documented the same way without anyone remembering to:

- every operation: 400 (``repeated_parameter``, ``interfaces/api/guards.py``) and 414
  (``uri_too_long``);
- an operation with parameters or a body: 422 (``validation_failed``);
- an operation with a body: 400 (``malformed_json``), 413 (``payload_too_large``);
- an operation that needs credentials: 401 (missing or invalid) and 403 (the
  principal's roles do not allow it, ``interfaces/web/authz.py``);
- a partner-signed operation: 413 too, since the signature covers the body, whatever the
  method.

Every such answer has the one error shape, ``ErrorOut``.
"""

from __future__ import annotations

from typing import Any

from ninja import NinjaAPI

from lightway.interfaces.api.schemas import ErrorOut

ERROR_SCHEMA_NAME = ErrorOut.__name__
PARTNER_SCHEME = "PartnerSignature"

_DESCRIPTIONS = {
    400: "Bad request: a query parameter given twice, or a body that is not JSON",
    401: "Missing or invalid credentials",
    403: "Your credentials do not allow this",
    413: "The request body is too large",
    414: "The path and query are too long",
    422: "A parameter or the body is not valid (details.fields says which and why)",
}


def _error_response(status: int) -> dict[str, Any]:
    return {
        "description": _DESCRIPTIONS[status],
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}}
        },
    }


def machinery_statuses(operation: dict[str, Any], *, api_secured: bool) -> set[int]:
    """The error statuses the shared request machinery can answer ``operation`` with."""
    statuses = {400, 414}
    has_body = "requestBody" in operation
    if operation.get("parameters") or has_body:
        statuses.add(422)
    if has_body:
        statuses.add(413)
    security = operation.get("security", [{}] if api_secured else [])
    schemes = {name for requirement in security for name in requirement}
    if schemes:
        statuses |= {401, 403}
    if PARTNER_SCHEME in schemes:
        statuses.add(413)
    return statuses


def openapi_complete(document: dict[str, Any]) -> dict[str, Any]:
    """Add the machinery's answers to every operation of ``document`` (in place)."""
    components = document.setdefault("components", {}).setdefault("schemas", {})
    if ERROR_SCHEMA_NAME not in components:
        schema = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(schema.pop("$defs", {}))
        components[ERROR_SCHEMA_NAME] = schema
    api_secured = bool(document.get("security"))
    for item in document.get("paths", {}).values():
        for method, operation in item.items():
            if method not in {"get", "put", "post", "delete", "patch", "head", "options"}:
                continue
            responses = operation.setdefault("responses", {})
            for status in sorted(machinery_statuses(operation, api_secured=api_secured)):
                responses.setdefault(status, _error_response(status))
    return document


class DocumentedNinjaAPI(NinjaAPI):
    """NinjaAPI whose OpenAPI document carries the machinery's answers (module docstring)."""

    def get_openapi_schema(self, **kwargs: Any) -> Any:
        return openapi_complete(super().get_openapi_schema(**kwargs))
