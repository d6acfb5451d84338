"""OpenAPI: describe the envelope around every response, once, in a post-processing hook.

Every operation documents the errors any request can meet (`ERROR_STATUSES`), and those of
reading a body (`BODY_ERROR_STATUSES`) when it takes one; a view adds its own with
`error_response()` (a 409 from a business rule, a 503 from a provider). Every error status
answers the `ErrorEnvelope`, whatever the view declared; a 204 has no body at all.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse

from anvil_voice.api.errors import ErrorCode

ERROR_STATUSES = {
    "400": "Invalid input (VALIDATION_ERROR, PARSE_ERROR).",
    "401": "Missing, malformed or revoked API key (UNAUTHENTICATED).",
    "403": "The caller's role may not do this (PERMISSION_DENIED).",
    "404": "Not found, or owned by another organization (NOT_FOUND).",
    "406": "The Accept header asks for a media type this operation cannot answer (NOT_ACCEPTABLE).",
    # Refused from Content-Length before any view runs, whatever the operation.
    "413": "The request body is over the size limit (PAYLOAD_TOO_LARGE).",
    "429": "Rate limit exceeded (RATE_LIMITED); retry after the Retry-After delay.",
}
BODY_ERROR_STATUSES = {
    "415": "The Content-Type is not one this operation reads (UNSUPPORTED_MEDIA_TYPE).",
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
}


def error_response(description: str) -> OpenApiResponse:
    """An error an operation answers beyond the common ones; its body is the `ErrorEnvelope`
    (the hook adds it). Name the error codes in the description."""
    return OpenApiResponse(description=description)


COMPONENTS: dict[str, Any] = {
    "PageMeta": {
        "type": "object",
        "required": ["total", "cursor", "hasMore"],
        "properties": {
            "total": {"type": "integer"},
            "cursor": {"type": "string", "nullable": True},
            "hasMore": {"type": "boolean"},
        },
    },
    "Error": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {"type": "string", "enum": [str(code) for code in ErrorCode]},
            "message": {"type": "string"},
            "details": {"type": "object", "additionalProperties": True},
        },
    },
    "ErrorEnvelope": {
        "type": "object",
        "required": ["success", "error"],
        "properties": {
            "success": {"type": "boolean", "enum": [False]},
            "error": {"$ref": "#/components/schemas/Error"},
        },
    },
}


def _is_envelope(schema: dict[str, Any], schemas: dict[str, Any]) -> bool:
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        schema = schemas.get(ref.rsplit("/", 1)[-1], {})
    return "success" in schema.get("properties", {})


def _answers_files_only(responses: dict[str, Any]) -> bool:
    contents = [
        response.get("content", {})
        for status_code, response in responses.items()
        if str(status_code).startswith("2")
    ]
    return bool(contents) and all(
        content and "application/json" not in content for content in contents
    )


def envelope_postprocessing_hook(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    # The routes accept an optional trailing slash; the contract writes paths without one.
    result["paths"] = {
        (path.rstrip("/") if path.rstrip("/") else path): item
        for path, item in result.get("paths", {}).items()
    }
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(COMPONENTS)
    error_content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for status_code, response in list(responses.items()):
                if int(status_code) >= 400:
                    response["content"] = error_content
                    continue
                if not str(status_code).startswith("2"):
                    continue
                if str(status_code) == "204":
                    # Every DELETE: no body at all, not even the envelope.
                    response.pop("content", None)
                    continue
                content = response.setdefault("content", {})
                if content and "application/json" not in content:
                    continue  # a file (audio): answered as is, never in the envelope
                json_content = content.setdefault("application/json", {})
                schema = json_content.get("schema")
                if schema is None:
                    json_content["schema"] = {
                        "type": "object",
                        "required": ["success", "data"],
                        "properties": {
                            "success": {"type": "boolean", "enum": [True]},
                            "data": {"nullable": True},
                        },
                    }
                elif not _is_envelope(schema, schemas):
                    json_content["schema"] = {
                        "type": "object",
                        "required": ["success", "data"],
                        "properties": {
                            "success": {"type": "boolean", "enum": [True]},
                            "data": schema,
                        },
                    }
            common = dict(ERROR_STATUSES)
            if _answers_files_only(responses):
                del common["406"]  # a file route answers its file whatever Accept says
            if "requestBody" in operation:
                common.update(BODY_ERROR_STATUSES)
            for status_code, description in common.items():
                responses.setdefault(
                    status_code, {"description": description, "content": error_content}
                )
            responses["429"]["headers"] = RETRY_AFTER
            operation["responses"] = dict(sorted(responses.items()))
    return result
