"""OpenAPI: describe the envelope around every response, once, in a post-processing hook."""

from __future__ import annotations

from typing import Any

from anvil_voice.api.errors import ErrorCode

ERROR_STATUSES = {
    "400": "Invalid input (VALIDATION_ERROR, PARSE_ERROR).",
    "401": "Missing, malformed or revoked API key (UNAUTHENTICATED).",
    "403": "The caller's role may not do this (PERMISSION_DENIED).",
    "404": "Not found, or owned by another organization (NOT_FOUND).",
    "429": "Rate limit exceeded (RATE_LIMITED); see Retry-After.",
}

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
                if not str(status_code).startswith("2"):
                    continue
                if str(status_code) == "204":
                    # Every DELETE: no body at all, not even the envelope.
                    response.pop("content", None)
                    continue
                content = response.setdefault("content", {})
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
            for status_code, description in ERROR_STATUSES.items():
                responses.setdefault(
                    status_code, {"description": description, "content": error_content}
                )
    return result
