"""Tenant isolation matrix: every endpoint x method, called by organization B with A's ids.

The operations are enumerated from the API's own OpenAPI schema and from the router's URL
patterns (a route missing from the schema is still found), so a new endpoint is in the matrix
the day it is added:

- an operation on an object (`/{id}` in its path) is called by B with A's object of that
  resource: a 404 NOT_FOUND envelope, and not one row anywhere changes. The resource is the
  first path segment; a new resource with no entry in `Tenant.ids()` fails the coverage test.
- a collection operation has no id in its path, so it needs an explicit case in `COLLECTION`
  (lists must not show A's rows; creates that take ids refuse A's; creates that cannot carry
  ids create only B's rows). One without a case fails the coverage test.
- every method a path does not document answers 404/405 and changes nothing.
- a revoked key is a 401 on every operation; a viewer's write is a 403 on every write.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.urls import URLPattern
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from anvil_voice.accounts import services as account_services
from anvil_voice.routes import router
from campaigns.models import Campaign
from sessions.models import CallSession
from tests.resilience.resilience_support import (
    RESOURCES,
    Snapshot,
    Tenant,
    build_tenant,
    diff,
    snapshot,
)
from voices.factories import tone_wav

PREFIX = "/api/v1/voice"
METHODS = ("get", "post", "put", "patch", "delete")
WRITES = ("post", "put", "patch", "delete")
# Answers no tenant data and needs no key.
PUBLIC = {("get", "/health"), ("get", "/live")}


# --- enumerating the API ----------------------------------------------------------------------


def _schema_operations() -> set[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = set()
    for path, item in schema["paths"].items():
        assert path.startswith(PREFIX), path
        for method in item:
            if method in METHODS:
                operations.add((method, path.removeprefix(PREFIX)))
    return operations


def _template(regex: str) -> str:
    """`^voices/(?P<pk>[0-9]+)/previews/(?P<preview_id>[0-9]+)/audio/?$` -> the schema's path."""
    path = regex.removeprefix("^").removesuffix("$").removesuffix("/?")
    path = re.sub(r"\(\?P<pk>[^)]*\)", "{id}", path)
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", path)
    return "/" + path


def _router_operations() -> set[tuple[str, str]]:
    operations = set()
    for pattern in router.urls:
        assert isinstance(pattern, URLPattern)
        actions: dict[str, str] = getattr(pattern.callback, "actions", {})
        for method in actions:
            if method in METHODS:
                operations.add((method, _template(str(pattern.pattern))))
    return operations


SCHEMA_OPERATIONS = _schema_operations()
ROUTER_OPERATIONS = _router_operations()
OPERATIONS = sorted(SCHEMA_OPERATIONS | ROUTER_OPERATIONS, key=lambda op: (op[1], op[0]))
PATHS = sorted({path for _, path in OPERATIONS})
ON_OBJECTS = [op for op in OPERATIONS if "{" in op[1]]
ON_COLLECTIONS = [op for op in OPERATIONS if "{" not in op[1] and op not in PUBLIC]


def op_id(op: tuple[str, str]) -> str:
    return f"{op[0].upper()} {op[1]}"


# --- the two tenants ----------------------------------------------------------------------------


@pytest.fixture
def tenants(owner, outsider) -> tuple[Tenant, Tenant]:
    """A (Acme, the victim) and B (Globex, the caller), each owning one of everything."""
    a = build_tenant(owner.organization, owner.api_key, digits="10")
    b = build_tenant(outsider.organization, outsider.api_key, digits="20")
    return a, b


def fill(path: str, ids: dict[str, int], preview_id: int) -> str:
    resource = path.strip("/").split("/")[0]
    if "{id}" in path:
        assert resource in ids, f"no object of resource {resource!r} in Tenant.ids()"
        path = path.replace("{id}", str(ids[resource]))
    path = path.replace("{preview_id}", str(preview_id))
    path = path.replace("{session_id}", str(ids["rehearsal-calls"]))
    assert "{" not in path, f"unknown path parameter in {path}"
    return PREFIX + path


def call(client: APIClient, method: str, url: str, body: Any = None) -> Any:
    return getattr(client, method)(url, body if body is not None else {}, format="json")


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, (response.status_code, response.content[:300])
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code


def assert_unchanged(before: Snapshot) -> None:
    changes = diff(before, snapshot())
    assert changes.empty, changes


# Bodies that would be valid on B's own object, so a 404 cannot be a validation error in
# disguise. Operations without an entry send `{}`.
BODIES: dict[tuple[str, str], Callable[[Tenant], Any]] = {
    ("patch", "/scripts/{id}"): lambda t: {"name": "Taken over"},
    ("post", "/scripts/{id}/render"): lambda t: {"variables": {"first_name": "Eve"}},
    ("post", "/voices/{id}/preview"): lambda t: {"text": "Say my name."},
    ("post", "/contact-lists/{id}/contacts"): lambda t: {"phoneNumber": "+12125550177"},
    ("delete", "/do-not-call/{id}"): lambda t: {"reason": "Customer asked again."},
}


# --- coverage -------------------------------------------------------------------------------------


def test_the_matrix_covers_every_operation_of_the_api():
    assert ("get", "/sessions/{id}") in ON_OBJECTS  # the enumeration found the routes
    missing = [op_id(op) for op in ON_COLLECTIONS if op not in COLLECTION]
    assert not missing, f"collection operations without a tenant case in COLLECTION: {missing}"
    stale = [op_id(op) for op in COLLECTION if op not in ON_COLLECTIONS]
    assert not stale, f"COLLECTION cases for operations the API no longer has: {stale}"
    resources = {path.strip("/").split("/")[0] for _, path in ON_OBJECTS}
    unknown = resources - set(RESOURCES)
    assert not unknown, f"resources with no object in resilience_support.RESOURCES: {unknown}"


def test_the_schema_documents_every_routed_operation():
    assert set() == ROUTER_OPERATIONS - SCHEMA_OPERATIONS


# --- B acts on A's objects ------------------------------------------------------------------------


NOWHERE = 999_999_999  # an id no row has


@pytest.mark.parametrize("op", ON_OBJECTS, ids=op_id)
def test_another_organizations_object_is_not_found(op, tenants, outsider):
    a, b = tenants
    method, path = op
    body = BODIES[op](b) if op in BODIES else None
    before = snapshot()

    response = call(outsider.client, method, fill(path, a.ids(), a.preview.pk), body)

    assert_error(response, 404, "NOT_FOUND")
    assert_unchanged(before)
    # Word for word what an id that never existed gets: the answer tells B nothing about A.
    nowhere = call(
        outsider.client, method, fill(path, dict.fromkeys(RESOURCES, NOWHERE), NOWHERE), body
    )
    assert nowhere.json() == response.json()


@pytest.mark.parametrize("op", ON_OBJECTS, ids=op_id)
def test_the_same_call_on_the_callers_own_object_gets_past_the_lookup(op, tenants, outsider):
    """The control: with B's own ids the answer is not the not-found one, so the 404 above
    came from the tenant check and not from a broken URL or body."""
    a, b = tenants
    method, path = op
    body = BODIES[op](b) if op in BODIES else None
    foreign = call(outsider.client, method, fill(path, a.ids(), a.preview.pk), body).json()

    response = call(outsider.client, method, fill(path, b.ids(), b.preview.pk), body)

    assert response.status_code < 500, response.content[:300]
    if response.status_code == 404:
        # An action may have its own "nothing here" (no pending callback): a different answer.
        assert response.json() != foreign, response.content[:300]


def test_a_preview_of_another_organization_under_the_callers_own_voice(tenants, outsider):
    a, b = tenants
    before = snapshot()

    response = outsider.client.get(
        f"{PREFIX}/voices/{b.voice.pk}/previews/{a.preview.pk}/audio", format="json"
    )

    assert_error(response, 404, "NOT_FOUND")
    assert_unchanged(before)


def test_rendering_the_callers_script_for_another_organizations_contact(tenants, outsider):
    a, b = tenants
    before = snapshot()

    response = outsider.client.post(
        f"{PREFIX}/scripts/{b.script.pk}/render", {"contactId": a.contact.pk}, format="json"
    )

    assert_error(response, 404, "NOT_FOUND")
    assert_unchanged(before)


def test_previewing_the_callers_voice_with_another_organizations_script(tenants, outsider):
    a, b = tenants
    before = snapshot()

    response = outsider.client.post(
        f"{PREFIX}/voices/{b.voice.pk}/preview", {"scriptId": a.script.pk}, format="json"
    )

    assert 400 <= response.status_code < 500, response.content[:300]
    assert response.json()["success"] is False
    assert_unchanged(before)


def test_a_campaigns_sessions_filtered_by_another_organizations_contact(tenants, outsider):
    a, b = tenants

    response = outsider.client.get(
        f"{PREFIX}/campaigns/{b.campaign.pk}/sessions", {"contact": a.contact.pk}
    )

    assert response.status_code == 200
    assert response.json()["data"] == []


# --- collection operations ----------------------------------------------------------------------


def _listed_ids(response: Any) -> set[int]:
    assert response.status_code == 200, response.content[:300]
    return {row["id"] for row in response.json()["data"]}


def list_case(resource: str) -> Callable[[Tenant, Tenant, Any], None]:
    def case(a: Tenant, b: Tenant, outsider: Any) -> None:
        before = snapshot()
        listed = _listed_ids(outsider.client.get(f"{PREFIX}/{resource}"))
        assert b.ids()[resource] in listed  # the list works: B sees its own
        assert a.ids()[resource] not in listed
        assert_unchanged(before)

    return case


def sessions_list_case(a: Tenant, b: Tenant, outsider: Any) -> None:
    list_case("sessions")(a, b, outsider)
    # Filters that take ids: A's ids match nothing B can see.
    for params in ({"campaign": a.campaign.pk}, {"contact": a.contact.pk}):
        assert _listed_ids(outsider.client.get(f"{PREFIX}/sessions", params)) == set()


def _campaign_body(t: Tenant, **refs: int) -> dict[str, Any]:
    return {
        "name": "Borrowed",
        "scriptId": t.script.pk,
        "voiceId": t.voice.pk,
        "contactListId": t.contact_list.pk,
        "callerId": t.caller_id.pk,
        **refs,
    }


def campaigns_create_case(a: Tenant, b: Tenant, outsider: Any) -> None:
    borrowed = {
        "scriptId": a.script.pk,
        "voiceId": a.voice.pk,
        "contactListId": a.contact_list.pk,
        "callerId": a.caller_id.pk,
    }
    before = snapshot()
    for field, value in [*borrowed.items(), ("all", 0)]:
        refs = borrowed if field == "all" else {field: value}
        response = outsider.client.post(
            f"{PREFIX}/campaigns", _campaign_body(b, **refs), format="json"
        )
        assert 400 <= response.status_code < 500, (field, response.content[:300])
        assert response.json()["success"] is False
        if field != "all":
            assert field in str(response.json()["error"].get("details", {})), response.json()
    assert_unchanged(before)
    # The control: the same body with B's own ids creates B's campaign.
    response = outsider.client.post(f"{PREFIX}/campaigns", _campaign_body(b), format="json")
    assert response.status_code == 201, response.content[:300]
    assert Campaign.objects.get(pk=response.json()["data"]["id"]).organization == b.organization


def _test_call_body(t: Tenant, **extra: Any) -> dict[str, Any]:
    return {"to": "+12125550166", "script": t.script.pk, "voice": t.voice.pk, **extra}


def calls_test_case(a: Tenant, b: Tenant, outsider: Any) -> None:
    before = snapshot()
    for field, body in (
        ("script", _test_call_body(b, script=a.script.pk)),
        ("voice", _test_call_body(b, voice=a.voice.pk)),
        ("from", _test_call_body(b, **{"from": a.caller_id.phone_number})),
    ):
        response = outsider.client.post(f"{PREFIX}/calls/test", body, format="json")
        assert 400 <= response.status_code < 500, (field, response.content[:300])
        assert field in response.json()["error"].get("details", {}), response.json()
    assert_unchanged(before)
    assert not CallSession.objects.filter(organization=b.organization, kind="test").exists()


def creates_only_for_the_caller(resource: str, body: dict[str, Any]) -> Callable[..., None]:
    """A create that cannot name another organization's objects: it makes B's row, and A's
    rows (and everything else) stay as they were."""

    def case(a: Tenant, b: Tenant, outsider: Any) -> None:
        before = snapshot()
        response = outsider.client.post(f"{PREFIX}/{resource}", body, format="json")
        assert response.status_code in (200, 201), response.content[:300]
        changes = diff(before, snapshot())
        assert not changes.removed, changes
        assert not changes.changed, changes
        assert changes.added, "the create wrote nothing"
        for table, rows in changes.added.items():
            for row in rows:
                if "organization_id" in row:
                    assert row["organization_id"] == b.organization.pk, (table, row)

    return case


def clone_case(a: Tenant, b: Tenant, outsider: Any) -> None:
    samples = []
    for index, freq in enumerate((220.0, 330.0)):
        from django.core.files.uploadedfile import SimpleUploadedFile

        samples.append(
            SimpleUploadedFile(f"take-{index}.wav", tone_wav(6.0, 16000, freq), "audio/wav")
        )
    before = snapshot()
    response = outsider.client.post(
        f"{PREFIX}/voices/clone", {"name": "Mine", "samples": samples}, format="multipart"
    )
    assert response.status_code == 201, response.content[:500]
    changes = diff(before, snapshot())
    assert not changes.removed, changes
    assert not changes.changed, changes
    for table, rows in changes.added.items():
        for row in rows:
            if "organization_id" in row:
                assert row["organization_id"] == b.organization.pk, (table, row)
            if "voice_id" in row:
                assert row["voice_id"] == response.json()["data"]["id"], (table, row)


COLLECTION: dict[tuple[str, str], Callable[[Tenant, Tenant, Any], None]] = {
    ("get", "/api-keys"): list_case("api-keys"),
    ("post", "/api-keys"): creates_only_for_the_caller("api-keys", {"name": "ci"}),
    ("get", "/voices"): list_case("voices"),
    ("post", "/voices/clone"): clone_case,
    ("get", "/scripts"): list_case("scripts"),
    ("post", "/scripts"): creates_only_for_the_caller(
        "scripts",
        {
            "name": "Own",
            "openingLine": "Hi there.",
            "closingLine": "Bye.",
            "systemPrompt": "Be brief.",
        },
    ),
    ("get", "/sessions"): sessions_list_case,
    ("post", "/calls/test"): calls_test_case,
    ("get", "/campaigns"): list_case("campaigns"),
    ("post", "/campaigns"): campaigns_create_case,
    ("get", "/contact-lists"): list_case("contact-lists"),
    ("post", "/contact-lists"): creates_only_for_the_caller("contact-lists", {"name": "Own"}),
    ("get", "/do-not-call"): list_case("do-not-call"),
    # A's number on B's list: B's own entry, A's entry untouched.
    ("post", "/do-not-call"): creates_only_for_the_caller(
        "do-not-call", {"phoneNumber": "+12125551099"}
    ),
    ("get", "/phone-numbers"): list_case("phone-numbers"),
    ("post", "/phone-numbers"): creates_only_for_the_caller(
        "phone-numbers", {"phoneNumber": "+14155550188"}
    ),
    ("get", "/webhooks"): list_case("webhooks"),
    ("post", "/webhooks"): creates_only_for_the_caller(
        "webhooks", {"url": "https://hooks.example.com/own", "events": ["session.completed"]}
    ),
}


@pytest.mark.parametrize("op", ON_COLLECTIONS, ids=op_id)
def test_collection_operations_keep_to_the_callers_organization(op, tenants, outsider):
    a, b = tenants
    assert op in COLLECTION, f"add a tenant case for {op_id(op)} to COLLECTION"

    COLLECTION[op](a, b, outsider)


# --- methods a path does not have -----------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
def test_undocumented_methods_are_refused_and_change_nothing(path, tenants, outsider):
    a, _ = tenants
    before = snapshot()

    for method in (m for m in METHODS if (m, path) not in OPERATIONS):
        response = call(outsider.client, method, fill(path, a.ids(), a.preview.pk))
        assert response.status_code in (404, 405), (method, response.content[:300])
        assert response.json()["success"] is False
    assert_unchanged(before)


# --- keys and roles -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", [path for path in PATHS if ("get", path) not in PUBLIC])
def test_a_revoked_key_is_refused_everywhere(path, tenants, outsider):
    a, b = tenants
    account_services.api_key_revoke(api_key=outsider.api_key)
    before = snapshot()

    for method in (m for m in METHODS if (m, path) in OPERATIONS):
        for ids, preview in ((a.ids(), a.preview.pk), (b.ids(), b.preview.pk)):
            response = call(outsider.client, method, fill(path, ids, preview))
            assert response.status_code == 401, (method, response.content[:300])
            assert response.json()["error"]["code"] == "UNAUTHENTICATED"
    assert_unchanged(before)


@pytest.mark.parametrize("op", [op for op in OPERATIONS if op[0] in WRITES], ids=op_id)
def test_a_viewer_cannot_write_even_in_their_own_organization(op, tenants, viewer):
    a, _ = tenants
    method, path = op
    body = BODIES[op](a) if op in BODIES else None
    before = snapshot()

    response = call(viewer.client, method, fill(path, a.ids(), a.preview.pk), body)

    assert_error(response, 403, "PERMISSION_DENIED")
    assert_unchanged(before)
