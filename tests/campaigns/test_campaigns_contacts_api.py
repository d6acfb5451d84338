"""`/contact-lists` (contacts, CSV import), `/do-not-call` and `/phone-numbers`."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from campaigns.factories import (
    CallerIdFactory,
    CampaignFactory,
    ContactFactory,
    ContactListFactory,
    DoNotCallEntryFactory,
)
from campaigns.models import CallerId, Contact, ContactList, DoNotCallEntry, DoNotCallRemoval

LISTS = "/api/v1/voice/contact-lists"
DNC = "/api/v1/voice/do-not-call"
NUMBERS = "/api/v1/voice/phone-numbers"


def iso(value) -> str:
    return value.isoformat().replace("+00:00", "Z")


def upload(owner, contact_list, text: str | bytes, **fields: object):
    raw = text.encode() if isinstance(text, str) else text
    data = {"file": SimpleUploadedFile("contacts.csv", raw, content_type="text/csv"), **fields}
    return owner.client.post(f"{LISTS}/{contact_list.pk}/import", data, format="multipart")


# --- Contact lists -------------------------------------------------------------------------


def test_it_creates_lists_and_lists_them(owner, outsider):
    created = owner.client.post(LISTS, {"name": "  Spring leads "}, format="json")
    ContactListFactory(organization=outsider.organization)

    listed = owner.client.get(LISTS).json()

    contact_list = ContactList.objects.get(organization=owner.organization)
    expected = {
        "id": contact_list.pk,
        "name": "Spring leads",
        "contactCount": 0,
        "variableNames": [],
        "createdAt": iso(contact_list.created_at),
    }
    assert created.status_code == 201
    assert created.json() == {"success": True, "data": expected}
    assert listed == {
        "success": True,
        "data": [expected],
        "meta": {"total": 1, "cursor": None, "hasMore": False},
    }


def test_it_deletes_an_unused_list_and_refuses_one_a_campaign_uses(owner):
    unused = ContactListFactory(organization=owner.organization, name="Unused")
    used = CampaignFactory(organization=owner.organization, name="Spring").contact_list

    deleted = owner.client.delete(f"{LISTS}/{unused.pk}")
    refused = owner.client.delete(f"{LISTS}/{used.pk}")

    assert (deleted.status_code, deleted.content) == (204, b"")
    assert refused.status_code == 409
    assert refused.json()["error"] == {
        "code": "CONFLICT",
        "message": "This contact list is used by campaigns and cannot be deleted: Spring.",
        "details": {"campaigns": ["Spring"]},
    }
    assert list(ContactList.objects.values_list("pk", flat=True)) == [used.pk]


def test_it_adds_a_contact_inferring_zone_and_state_from_the_number(owner):
    contact_list = ContactListFactory(organization=owner.organization)

    response = owner.client.post(
        f"{LISTS}/{contact_list.pk}/contacts",
        {
            "phoneNumber": "(415) 555-0123",
            "firstName": "Ada",
            "lastName": "Lovelace",
            "variables": {"plan": "gold"},
            "consentSource": "web form",
            "consentAt": "2026-01-05T10:00:00Z",
        },
        format="json",
    )

    contact = Contact.objects.get()
    assert response.status_code == 201
    assert response.json()["data"] == {
        "id": contact.pk,
        "phoneNumber": "+14155550123",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "company": "",
        "email": "",
        "timeZone": "America/Los_Angeles",
        "timeZoneSource": "number",
        "region": "CA",
        "variables": {"plan": "gold"},
        "consentSource": "web form",
        "consentAt": "2026-01-05T10:00:00Z",
        "createdAt": iso(contact.created_at),
    }
    contact_list.refresh_from_db()
    assert contact_list.contact_count == 1
    assert contact_list.variable_names == ["plan"]


@pytest.mark.parametrize(
    ("body", "status", "details"),
    [
        ({"phoneNumber": "12"}, 400, {"phoneNumber": ["'12' is not a valid phone number."]}),
        (
            {"phoneNumber": "+14155550123", "timeZone": "Mars/Olympus"},
            400,
            {"timeZone": ["'Mars/Olympus' is not an IANA time zone (e.g. America/New_York)."]},
        ),
        (
            {"phoneNumber": "+14155550123", "firstName": "=cmd|' /C calc'!A0"},
            400,
            {"firstName": ["'first_name' starts with '=', like a spreadsheet formula."]},
        ),
        (
            {"phoneNumber": "+14155550123", "variables": {"Bad Name": "x"}},
            400,
            {
                "variables": [
                    "'Bad Name' is not a variable name: use lowercase letters, digits and "
                    "underscores, starting with a letter."
                ]
            },
        ),
        (
            {"phoneNumber": "+12125550199"},
            400,
            {"phoneNumber": ["This number is on the do-not-call list."]},
        ),
        ({"phoneNumber": "+12125550142"}, 409, None),
    ],
)
def test_it_refuses_a_bad_contact(owner, body, status, details):
    contact_list = ContactListFactory(organization=owner.organization)
    ContactFactory(contact_list=contact_list, phone_number="+12125550142")
    DoNotCallEntryFactory(organization=owner.organization, phone_number="+12125550199")

    response = owner.client.post(f"{LISTS}/{contact_list.pk}/contacts", body, format="json")

    assert response.status_code == status
    if details is not None:
        assert response.json()["error"]["details"] == details
    assert Contact.objects.count() == 1


def test_it_lists_a_lists_contacts_with_search(owner):
    contact_list = ContactListFactory(organization=owner.organization)
    ada = ContactFactory(contact_list=contact_list, first_name="Ada")
    ContactFactory(contact_list=contact_list, first_name="Grace")

    body = owner.client.get(f"{LISTS}/{contact_list.pk}/contacts", {"search": "ad"}).json()

    assert [row["id"] for row in body["data"]] == [ada.pk]
    assert body["meta"] == {"total": 1, "cursor": None, "hasMore": False}


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("555010", ["Ivy"]),
        ("212 555-0104", ["Ivy"]),
        ("(212) 555-01", ["Ivy", "Olga"]),
        ("+1 212", ["Ivy", "Olga"]),
        ("0115", ["Olga"]),
        ("415.555", ["Nick"]),
        ("555-0199", []),
    ],
)
def test_search_finds_part_of_a_number_written_any_way(owner, search, expected):
    contact_list = ContactListFactory(organization=owner.organization)
    for name, number in [
        ("Ivy", "+12125550104"),
        ("Olga", "+12125550115"),
        ("Nick", "+14155550120"),
    ]:
        ContactFactory(contact_list=contact_list, first_name=name, phone_number=number)

    body = owner.client.get(f"{LISTS}/{contact_list.pk}/contacts", {"search": search}).json()

    assert sorted(row["firstName"] for row in body["data"]) == expected


def test_it_hides_another_organizations_lists(owner, outsider):
    contact_list = ContactListFactory(organization=owner.organization)

    for method, suffix in [
        ("get", ""),
        ("delete", ""),
        ("get", "/contacts"),
        ("post", "/contacts"),
    ]:
        response = getattr(outsider.client, method)(
            f"{LISTS}/{contact_list.pk}{suffix}", {"phoneNumber": "+14155550123"}, format="json"
        )
        assert response.status_code == 404, (method, suffix)
    response = upload(outsider, contact_list, "phone\n+14155550123\n")
    assert response.status_code == 404
    assert not Contact.objects.exists()


# --- CSV import ------------------------------------------------------------------------------


def test_it_imports_a_csv_with_a_bom_semicolons_and_custom_variables(owner):
    contact_list = ContactListFactory(organization=owner.organization)
    text = (
        "\ufeffPhone;First Name;Surname;Plan Name;State\n"
        "(212) 555-0104;Ivy;Interested;gold;\n"
        "+1 415 555 0105;Otto;Objection;silver;CA\n"
        "\n"
    )

    response = upload(owner, contact_list, text)

    assert response.status_code == 200
    ivy, otto = Contact.objects.order_by("id")
    assert response.json()["data"] == {
        "dryRun": False,
        "delimiter": ";",
        "columns": {
            "phoneNumber": "Phone",
            "firstName": "First Name",
            "lastName": "Surname",
            "region": "State",
        },
        "variables": {"plan_name": "Plan Name"},
        "rowsRead": 2,
        "imported": 2,
        "rejected": 0,
        "rejectedByReason": {},
        "rejections": [],
        "rejectionsTruncated": False,
        "preview": [
            {
                "row": 2,
                "phoneNumber": "+12125550104",
                "firstName": "Ivy",
                "lastName": "Interested",
                "company": "",
                "email": "",
                "timeZone": "America/New_York",
                "timeZoneSource": "number",
                "region": "NY",
                "consentSource": "",
                "consentAt": None,
                "variables": {"plan_name": "gold"},
            },
            {
                "row": 3,
                "phoneNumber": "+14155550105",
                "firstName": "Otto",
                "lastName": "Objection",
                "company": "",
                "email": "",
                "timeZone": "America/Los_Angeles",
                "timeZoneSource": "number",
                "region": "CA",
                "consentSource": "",
                "consentAt": None,
                "variables": {"plan_name": "silver"},
            },
        ],
    }
    assert (ivy.first_name, ivy.variables, otto.region) == ("Ivy", {"plan_name": "gold"}, "CA")
    contact_list.refresh_from_db()
    assert contact_list.contact_count == 2
    assert contact_list.variable_names == ["plan_name"]


def test_it_reports_every_rejected_row_with_its_reason(owner):
    contact_list = ContactListFactory(organization=owner.organization)
    ContactFactory(contact_list=contact_list, phone_number="+12125550110")
    DoNotCallEntryFactory(organization=owner.organization, phone_number="+12125550108")
    long_name = "x" * 1000
    text = (
        "phone,first_name,company,notes\n"
        "+12125550104,Ivy,Acme,ok\n"  # 2: imported
        "not a number,Bad,Acme,\n"  # 3
        "+12125550104,Ivy again,Acme,\n"  # 4: duplicate in the file
        "+12125550110,Already,Acme,\n"  # 5: already in the list
        "+12125550108,Remy,Acme,\n"  # 6: do-not-call
        f"+12125550111,{long_name},Acme,\n"  # 7: too long
        '+12125550112,Eve,=HYPERLINK("http://x"),\n'  # 8: formula
        "+12125550113,Mallory,Acme,@SUM(A1)\n"  # 9: formula in a variable
        "+12125550114,Neg,Acme,-12.50\n"  # 10: a signed number is data
        ",NoPhone,Acme,\n"  # 11: no phone
        "+12125550115,Too,Many,cells,here\n"  # 12: malformed
    )

    response = upload(owner, contact_list, text)

    report = response.json()["data"]
    assert (report["rowsRead"], report["imported"], report["rejected"]) == (11, 2, 9)
    assert report["rejectedByReason"] == {
        "do_not_call": 1,
        "duplicate": 2,
        "field_too_long": 1,
        "formula": 2,
        "invalid_number": 1,
        "malformed_row": 1,
        "missing_phone": 1,
    }
    assert sorted((item["row"], item["reason"]) for item in report["rejections"]) == [
        (3, "invalid_number"),
        (4, "duplicate"),
        (5, "duplicate"),
        (6, "do_not_call"),
        (7, "field_too_long"),
        (8, "formula"),
        (9, "formula"),
        (11, "missing_phone"),
        (12, "malformed_row"),
    ]
    assert {
        item["row"]: item["message"] for item in report["rejections"] if item["row"] in (7, 8)
    } == {
        7: "'first_name' has 1000 characters; the limit is 100.",
        8: "'company' starts with '=', like a spreadsheet formula.",
    }
    assert sorted(Contact.objects.values_list("phone_number", flat=True)) == [
        "+12125550104",
        "+12125550110",
        "+12125550114",
    ]
    assert Contact.objects.get(phone_number="+12125550114").variables == {"notes": "-12.50"}


def test_it_previews_without_writing(owner):
    contact_list = ContactListFactory(organization=owner.organization)

    response = upload(owner, contact_list, "mobile,name\n+12125550104,Ivy\n", dryRun="true")

    report = response.json()["data"]
    assert report["dryRun"] is True
    assert report["imported"] == 1
    assert report["columns"] == {"phoneNumber": "mobile"}
    assert report["preview"][0]["phoneNumber"] == "+12125550104"
    assert report["preview"][0]["variables"] == {"name": "Ivy"}
    assert not Contact.objects.exists()
    contact_list.refresh_from_db()
    assert (contact_list.contact_count, contact_list.variable_names) == (0, [])


def test_it_uses_an_explicit_header_mapping_and_an_explicit_time_zone(owner):
    contact_list = ContactListFactory(organization=owner.organization)
    text = "Cell,Given,Where\n+12125550104,Ivy,America/Chicago\n"

    response = upload(
        owner,
        contact_list,
        text,
        mapping=json.dumps({"phoneNumber": "Cell", "firstName": "Given", "timeZone": "Where"}),
    )

    assert response.json()["data"]["columns"] == {
        "phoneNumber": "Cell",
        "firstName": "Given",
        "timeZone": "Where",
    }
    contact = Contact.objects.get()
    assert (contact.first_name, contact.time_zone, contact.time_zone_source) == (
        "Ivy",
        "America/Chicago",
        "explicit",
    )


@pytest.mark.parametrize(
    ("content", "fields", "details"),
    [
        (
            "name,company\nIvy,Acme\n",
            {},
            {
                "file": [
                    'No phone number column: name one in mapping (e.g. {"phoneNumber": '
                    "\"Mobile\"}) or use a header such as 'phone'."
                ]
            },
        ),
        ("", {}, {"file": ["The submitted file is empty."]}),
        (
            b"phone,name\n+12125550104,\xff\xfe\n",
            {},
            {"file": ["The file is not UTF-8 text."]},
        ),
        (
            'phone,name\n+12125550104,"unterminated\n',
            {},
            {"file": ["Line 2: unexpected end of data."]},
        ),
        (
            "phone,name\n+12125550104,Ann\x00ie\n",
            {},
            {"file": ["Line 2: null characters are not allowed; save the file as UTF-8 text."]},
        ),
        (
            "phone,na\x00me\n+12125550104,Annie\n",
            {},
            {"file": ["Line 1: null characters are not allowed; save the file as UTF-8 text."]},
        ),
        (
            # UTF-16 without a BOM decodes as UTF-8 with a NUL after every ASCII character.
            "phone\n+12125550104\n".encode("utf-16-le"),
            {},
            {"file": ["Line 1: null characters are not allowed; save the file as UTF-8 text."]},
        ),
        (
            "phone,phone\n+12125550104,+12125550105\n",
            {},
            {"file": ["The header repeats column(s): phone."]},
        ),
        (
            "phone\n+12125550104\n",
            {"mapping": json.dumps({"phoneNumber": "Mobile"})},
            {"mapping": ["The file has no column 'Mobile' (columns: phone)."]},
        ),
        (
            "phone\n+12125550104\n",
            {"mapping": json.dumps({"shoeSize": "phone"})},
            {
                "mapping": [
                    "Unknown field 'shoeSize'; use one of phoneNumber, firstName, lastName, "
                    "company, email, timeZone, region, consentSource, consentAt."
                ]
            },
        ),
    ],
)
def test_it_refuses_a_broken_file_and_imports_nothing(owner, content, fields, details):
    contact_list = ContactListFactory(organization=owner.organization)

    response = upload(owner, contact_list, content, **fields)

    assert response.status_code == 400
    assert response.json()["error"]["details"] == details
    assert not Contact.objects.exists()


def test_it_rolls_back_earlier_batches_when_the_file_breaks_later(owner, monkeypatch):
    monkeypatch.setattr("campaigns.importing.BATCH_SIZE", 2)
    contact_list = ContactListFactory(organization=owner.organization)
    rows = "".join(f"+1212555{100 + n:04d},P{n}\n" for n in range(5))

    response = upload(owner, contact_list, f"phone,name\n{rows}".encode() + b"\xff\n")

    assert response.status_code == 400
    assert not Contact.objects.exists()


def test_it_forbids_viewers_from_importing(viewer):
    contact_list = ContactListFactory(organization=viewer.organization)

    response = upload(viewer, contact_list, "phone\n+12125550104\n")

    assert response.status_code == 403
    assert not Contact.objects.exists()


# --- Do-not-call -----------------------------------------------------------------------------


def test_it_adds_numbers_to_the_do_not_call_list_idempotently(owner):
    first = owner.client.post(
        DNC, {"phoneNumber": "212-555-0108", "reason": "asked"}, format="json"
    )
    again = owner.client.post(DNC, {"phoneNumber": "+12125550108"}, format="json")
    listed = owner.client.get(DNC).json()

    entry = DoNotCallEntry.objects.get()
    expected = {
        "id": entry.pk,
        "phoneNumber": "+12125550108",
        "source": "api",
        "reason": "asked",
        "createdAt": iso(entry.created_at),
    }
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["data"] == expected
    assert again.json()["data"] == expected
    assert listed["data"] == [expected]


def test_it_lets_only_owners_remove_a_number_with_a_reason(owner, member):
    entry = DoNotCallEntryFactory(organization=owner.organization, phone_number="+12125550108")

    by_member = member.client.delete(f"{DNC}/{entry.pk}", {"reason": "typo"}, format="json")
    without_reason = owner.client.delete(f"{DNC}/{entry.pk}", {}, format="json")
    by_owner = owner.client.delete(
        f"{DNC}/{entry.pk}", {"reason": "Added by mistake"}, format="json"
    )

    assert by_member.status_code == 403
    assert without_reason.status_code == 400
    assert without_reason.json()["error"]["details"] == {"reason": ["This field is required."]}
    assert (by_owner.status_code, by_owner.content) == (204, b"")
    assert not DoNotCallEntry.objects.exists()
    removal = DoNotCallRemoval.objects.get()
    assert (
        removal.phone_number,
        removal.reason,
        removal.removed_by_key_id,
        removal.original_source,
    ) == ("+12125550108", "Added by mistake", owner.api_key.pk, "manual")


def test_it_hides_another_organizations_do_not_call_entries(owner, outsider):
    entry = DoNotCallEntryFactory(organization=owner.organization)

    listed = outsider.client.get(DNC).json()
    removed = outsider.client.delete(f"{DNC}/{entry.pk}", {"reason": "mine now"}, format="json")

    assert listed["data"] == []
    assert removed.status_code == 404
    assert DoNotCallEntry.objects.filter(pk=entry.pk).exists()


# --- Caller IDs ------------------------------------------------------------------------------


def test_it_registers_a_caller_id_in_the_simulators_range(owner):
    response = owner.client.post(
        NUMBERS, {"phoneNumber": "+1 555 555 0100", "label": "Main line"}, format="json"
    )
    listed = owner.client.get(NUMBERS).json()

    caller_id = CallerId.objects.get()
    expected = {
        "id": caller_id.pk,
        "phoneNumber": "+15555550100",
        "label": "Main line",
        "isDefault": False,
        "carrierSid": "",
        "createdAt": iso(caller_id.created_at),
    }
    assert response.status_code == 201
    assert response.json()["data"] == expected
    assert listed["data"] == [expected]


def test_a_new_default_caller_id_replaces_the_previous_default(owner, outsider):
    elsewhere = CallerIdFactory(
        organization=outsider.organization, phone_number="+15555550100", is_default=True
    )
    first = owner.client.post(
        NUMBERS, {"phoneNumber": "+15555550101", "isDefault": True}, format="json"
    )
    second = owner.client.post(
        NUMBERS, {"phoneNumber": "+15555550102", "isDefault": True}, format="json"
    )

    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json()["data"]["isDefault"] is True
    listed = owner.client.get(NUMBERS).json()["data"]
    assert [(row["phoneNumber"], row["isDefault"]) for row in listed] == [
        ("+15555550102", True),
        ("+15555550101", False),
    ]
    elsewhere.refresh_from_db()
    assert elsewhere.is_default  # another organization's default is its own


@pytest.mark.parametrize(
    ("number", "status", "details"),
    [
        (
            "+14155552671",
            400,
            {
                "phoneNumber": [
                    "With the Twilio simulator, caller IDs must be in the fictional range "
                    "+1 NXX 555 01xx (e.g. +15555550100)."
                ]
            },
        ),
        ("banana", 400, {"phoneNumber": ["'banana' is not a phone number."]}),
        ("+15555550100", 409, None),
    ],
)
def test_it_refuses_caller_ids_the_account_does_not_own(owner, number, status, details):
    CallerIdFactory(organization=owner.organization, phone_number="+15555550100")

    response = owner.client.post(NUMBERS, {"phoneNumber": number}, format="json")

    assert response.status_code == status
    if details:
        assert response.json()["error"]["details"] == details
    assert CallerId.objects.count() == 1


def test_it_checks_caller_ids_against_the_twilio_account(owner, settings, monkeypatch):
    settings.CAMPAIGNS_CALLER_ID_CHECK = "twilio"
    asked: list[str] = []

    class Number:
        sid = "PN123"

    class IncomingNumbers:
        def list(self, phone_number: str, limit: int) -> list[Number]:
            asked.append(phone_number)
            return [Number()] if phone_number == "+14155552671" else []

    class FakeClient:
        def __init__(self, *args: object) -> None:
            self.incoming_phone_numbers = IncomingNumbers()

    monkeypatch.setattr("campaigns.services.caller_ids.Client", FakeClient)

    owned = owner.client.post(NUMBERS, {"phoneNumber": "+14155552671"}, format="json")
    foreign = owner.client.post(NUMBERS, {"phoneNumber": "+14155552672"}, format="json")

    assert owned.status_code == 201
    assert owned.json()["data"]["carrierSid"] == "PN123"
    assert foreign.json()["error"]["details"] == {
        "phoneNumber": ["This number is not one of the Twilio account's phone numbers."]
    }
    assert asked == ["+14155552671", "+14155552672"]


def test_it_removes_an_unused_caller_id_and_refuses_one_in_use(owner, outsider):
    # Outside the factory's sequence (+1555555 0100-0199), which the campaign's caller ID uses.
    unused = CallerIdFactory(organization=owner.organization, phone_number="+15555550099")
    used = CampaignFactory(organization=owner.organization, name="Spring").caller_id

    foreign = outsider.client.delete(f"{NUMBERS}/{unused.pk}")
    removed = owner.client.delete(f"{NUMBERS}/{unused.pk}")
    refused = owner.client.delete(f"{NUMBERS}/{used.pk}")

    assert foreign.status_code == 404
    assert (removed.status_code, removed.content) == (204, b"")
    assert refused.status_code == 409
    assert list(CallerId.objects.values_list("pk", flat=True)) == [used.pk]
