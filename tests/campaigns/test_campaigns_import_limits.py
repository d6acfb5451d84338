"""CSV import bounds (issue 15, item 4): header size and column caps, and no transaction open
while the file is parsed.

The probe's file was a 700 KB header (`phone,` + 350 000 x `a,`): resolving it was quadratic
(53 s of CPU), inside the import's transaction, so on SQLite every other tenant's writes failed
with "database is locked" meanwhile.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from campaigns import importing
from campaigns.factories import ContactListFactory
from campaigns.models import Contact
from tests.campaigns.test_campaigns_contacts_api import upload

ROW = "+12125550104"


@pytest.fixture
def resolved_headers(monkeypatch, settings) -> list[int]:
    """The column count of every header the importer went on to resolve; one over the cap
    fails at once (before the quadratic work on the old code, so the test fails fast)."""
    seen: list[int] = []
    resolve = importing._resolve_columns

    def spy(header: list[str], mapping: Any, **options: Any) -> Any:
        seen.append(len(header))
        assert len(header) <= settings.CONTACT_IMPORT_MAX_COLUMNS, "resolved an oversized header"
        return resolve(header, mapping, **options)

    monkeypatch.setattr(importing, "_resolve_columns", spy)
    return seen


def test_it_refuses_the_probes_700_kb_header_without_resolving_it(owner, resolved_headers):
    contact_list = ContactListFactory(organization=owner.organization)
    header = "phone," + "a," * 350_000

    response = upload(owner, contact_list, f"{header}\n{ROW}\n")

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "VALIDATION_ERROR",
        "message": "The request is not valid; see error.details.",
        "details": {
            "file": [
                "The header line is longer than 65536 characters; "
                "a file may have at most 200 columns."
            ]
        },
    }
    assert resolved_headers == []
    assert not Contact.objects.exists()


def test_it_refuses_one_column_more_than_the_cap(owner, resolved_headers):
    contact_list = ContactListFactory(organization=owner.organization)
    header = "phone," + ",".join(f"c{n}" for n in range(200))

    response = upload(owner, contact_list, f"{header}\n{ROW}\n")

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "file": ["The header has 201 columns; a file may have at most 200."]
    }
    assert resolved_headers == []
    assert not Contact.objects.exists()


def test_a_header_at_the_column_cap_still_imports(owner, resolved_headers):
    contact_list = ContactListFactory(organization=owner.organization)
    header = "phone," + ",".join(f"c{n}" for n in range(199))
    row = ROW + "," + ",".join(f"v{n}" for n in range(199))

    response = upload(owner, contact_list, f"{header}\n{row}\n")

    assert response.status_code == 200
    report = response.json()["data"]
    assert (report["imported"], report["rejected"], len(report["variables"])) == (1, 0, 199)
    assert resolved_headers == [200]
    contact = Contact.objects.get()
    assert (contact.variables["c0"], contact.variables["c198"]) == ("v0", "v198")


def test_a_header_of_exactly_the_size_cap_imports_and_one_character_more_does_not(owner, settings):
    settings.CONTACT_IMPORT_MAX_HEADER_CHARS = 1024
    contact_list = ContactListFactory(organization=owner.organization)
    # 1024 characters with the newline: "phone,padding" + x's.
    at_cap = "phone,padding" + "x" * (1024 - len("phone,padding") - 1) + "\n"
    over = "phone,padding" + "x" * (1025 - len("phone,padding") - 1) + "\n"

    accepted = upload(owner, contact_list, f"{at_cap}{ROW},p\n")
    refused = upload(owner, contact_list, f"{over}+12125550105,p\n")

    assert len(at_cap) == 1024
    assert accepted.status_code == 200
    assert accepted.json()["data"]["imported"] == 1
    assert refused.status_code == 400
    assert refused.json()["error"]["details"] == {
        "file": [
            "The header line is longer than 1024 characters; a file may have at most 200 columns."
        ]
    }
    assert list(Contact.objects.values_list("phone_number", flat=True)) == [ROW]


def test_a_repeated_header_at_the_cap_names_each_repeat_once(owner):
    contact_list = ContactListFactory(organization=owner.organization)
    header = "phone," + ",".join(["a", "b"] * 99 + ["c"])

    response = upload(owner, contact_list, f"{header}\n{ROW}\n")

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"file": ["The header repeats column(s): a, b."]}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("dry_run", [False, True])
def test_the_file_is_parsed_and_validated_outside_any_transaction(owner, monkeypatch, dry_run):
    """Structural: every row is validated, and the header resolved, with no transaction open
    (so SQLite's write lock is not held while a file is read); the rows are written inside one."""
    contact_list = ContactListFactory(organization=owner.organization)
    in_transaction: dict[str, list[bool]] = {"resolve": [], "validate": [], "insert": []}
    resolve, validate = importing._resolve_columns, importing.normalize_contact
    insert = importing._ContactWriter.insert

    def resolve_spy(*args: Any, **kwargs: Any) -> Any:
        in_transaction["resolve"].append(connection.in_atomic_block)
        return resolve(*args, **kwargs)

    def validate_spy(*args: Any, **kwargs: Any) -> Any:
        in_transaction["validate"].append(connection.in_atomic_block)
        return validate(*args, **kwargs)

    def insert_spy(self: Any, rows: Any) -> None:
        in_transaction["insert"].append(connection.in_atomic_block)
        insert(self, rows)

    monkeypatch.setattr(importing, "_resolve_columns", resolve_spy)
    monkeypatch.setattr(importing, "normalize_contact", validate_spy)
    monkeypatch.setattr(importing._ContactWriter, "insert", insert_spy)
    monkeypatch.setattr(importing, "BATCH_SIZE", 2)
    rows = "".join(f"+1212555{100 + n:04d},P{n}\n" for n in range(5))

    response = upload(owner, contact_list, f"phone,name\n{rows}", dryRun=str(dry_run).lower())

    assert response.status_code == 200
    assert response.json()["data"]["imported"] == 5
    assert in_transaction["resolve"] == [False]
    assert in_transaction["validate"] == [False] * 5
    assert in_transaction["insert"] == ([] if dry_run else [True] * 3)
    assert Contact.objects.count() == (0 if dry_run else 5)
