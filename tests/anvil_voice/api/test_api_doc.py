"""docs/api.md, the API's contract in the repository, agrees with the generated schema."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from drf_spectacular.generators import SchemaGenerator

API_DOC = Path(settings.BASE_DIR) / "docs/api.md"
CUSTOMER_SPEC = Path("/work/shared/spec/voice-api.md")  # where the customer's copy lives
METHODS = {"get", "post", "put", "patch", "delete"}
ROW = re.compile(r"^\| (GET|POST|PUT|PATCH|DELETE) \| `([^`]+)` \|", re.MULTILINE)


def schema_operations() -> set[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in METHODS
    }


def section(title_start: str) -> str:
    text = API_DOC.read_text()
    start = text.index(f"\n## {title_start}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def rows(text: str) -> list[tuple[str, str]]:
    return [(method, re.sub(r":(\w+)", r"{\1}", path)) for method, path in ROW.findall(text)]


def test_every_schema_operation_is_listed_in_docs_api_md_and_nothing_else(db):
    listed = rows(section("3. Every operation"))
    in_schema = schema_operations()

    assert len(listed) == len(set(listed)), "an operation is listed twice"
    missing = sorted(in_schema - set(listed))
    stale = sorted(set(listed) - in_schema)
    assert missing == [], f"add these operations to docs/api.md section 3: {missing}"
    assert stale == [], f"docs/api.md section 3 lists operations the API lacks: {stale}"


def test_every_operation_of_the_customers_contract_is_in_the_schema(db):
    contract = rows(section("1. The customer's contract"))

    assert len(contract) == 20
    assert sorted(set(contract) - schema_operations()) == []


def test_the_customers_contract_is_copied_verbatim():
    if not CUSTOMER_SPEC.exists():
        pytest.skip(f"the customer's copy is not on this machine ({CUSTOMER_SPEC})")

    assert CUSTOMER_SPEC.read_text().strip() in section("1. The customer's contract")
