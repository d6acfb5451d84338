"""A script's keypad through the API and the admin: stored, versioned, validated."""

from __future__ import annotations

import pytest

from scripts.engine import KeypadAction, ScriptSpec
from scripts.factories import ScriptFactory
from scripts.models import Script, ScriptVersion
from tests.scripts.test_scripts_admin import form_data, staff

SCRIPTS = "/api/v1/voice/scripts"
KEYPAD = [{"digit": "1", "action": "interested"}, {"digit": "*", "action": "repeat"}]
VALID = {
    "name": "Solar outreach",
    "openingLine": "Hi {{first_name|there}}, this is Alex, an AI assistant from Acme.",
    "closingLine": "Wonderful, I'll email you the details. Goodbye!",
    "keypad": KEYPAD,
    "keypadPrompt": "Press 1 to talk to a person, or star to hear this again.",
}

pytestmark = pytest.mark.django_db


def test_it_creates_a_script_with_a_keypad_the_calls_read(owner):
    response = owner.client.post(SCRIPTS, VALID, format="json")

    assert response.status_code == 201
    data = response.json()["data"]
    assert (data["keypad"], data["keypadPrompt"]) == (KEYPAD, VALID["keypadPrompt"])
    snapshot = ScriptVersion.objects.get(script__pk=data["id"]).snapshot
    spec = ScriptSpec.from_dict(snapshot)
    assert [(key.digit, key.action) for key in spec.keypad] == [
        ("1", KeypadAction.INTERESTED),
        ("*", KeypadAction.REPEAT),
    ]
    assert spec.keypad_prompt == VALID["keypadPrompt"]


def test_changing_the_keypad_records_a_new_version(owner, acme):
    script = ScriptFactory(organization=acme)

    response = owner.client.patch(
        f"{SCRIPTS}/{script.pk}",
        {"keypad": [{"digit": "2", "action": "callback"}], "keypadPrompt": "Press 2 for later."},
        format="json",
    )

    assert response.status_code == 200
    script.refresh_from_db()
    assert script.version == 2
    assert script.versions.get(number=2).snapshot["keypad"] == [
        {"digit": "2", "action": "callback"}
    ]


@pytest.mark.parametrize(
    ("change", "details"),
    [
        (
            {"keypad": [{"digit": "9", "action": "interested"}]},
            {
                "keypad": [
                    "Key 1: 9 is the opt-out key on every call; it can only have the opt_out "
                    "action."
                ]
            },
        ),
        (
            {"keypad": [*KEYPAD, {"digit": "1", "action": "end"}]},
            {"keypad": ["Key 3: the digit 1 is already used."]},
        ),
        (
            {"keypadPrompt": ""},
            {
                "keypad": [
                    "A keypad needs a keypad prompt that tells the caller which keys to press."
                ]
            },
        ),
        (
            {"keypad": [{"digit": "1", "action": "dance"}]},
            {"keypad": {"0": {"action": ['"dance" is not a valid choice.']}}},
        ),
        (
            {"keypad": [{"digit": "12", "action": "end"}]},
            {"keypad": {"0": {"digit": ["Ensure this field has no more than 1 characters."]}}},
        ),
    ],
)
def test_it_refuses_a_bad_keypad_and_writes_nothing(owner, change, details):
    response = owner.client.post(SCRIPTS, {**VALID, **change}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert response.json()["error"]["details"] == details
    assert not Script.objects.exists()


def test_the_admin_edits_the_keypad_one_key_a_line(client, owner):
    script = ScriptFactory(organization=owner.organization)
    client.force_login(staff(owner))
    url = f"/admin/scripts/script/{script.pk}/change/"
    data = form_data(
        script,
        keypad="1 = interested\n\n# = end",
        keypad_prompt="Press 1 or #.",
        **{"objections-TOTAL_FORMS": "0"},
    )

    response = client.post(url, data)

    assert response.status_code == 302
    script.refresh_from_db()
    assert script.keypad == [
        {"digit": "1", "action": "interested"},
        {"digit": "#", "action": "end"},
    ]
    assert script.versions.get(number=2).snapshot["keypad_prompt"] == "Press 1 or #."
    assert "1 = interested\n# = end" in client.get(url).content.decode()


def test_the_admin_refuses_a_bad_keypad(client, owner):
    script = ScriptFactory(organization=owner.organization)
    client.force_login(staff(owner))

    response = client.post(
        f"/admin/scripts/script/{script.pk}/change/",
        form_data(script, keypad="9 = interested", keypad_prompt="Press 9."),
    )

    assert response.status_code == 200
    assert "9 is the opt-out key on every call" in response.content.decode()
    script.refresh_from_db()
    assert (script.keypad, script.version) == ([], 1)


ZIP = {"name": "zip_code", "maxDigits": 5, "endKey": "#", "timeoutSeconds": 3, "say": "Thanks."}


def test_a_keypad_entry_is_stored_versioned_and_read_by_the_calls(owner, acme):
    body = {
        **VALID,
        "keypad": [],
        "keypadPrompt": "Type your zip code, then #.",
        "keypadEntry": ZIP,
    }
    response = owner.client.post(SCRIPTS, body, format="json")

    assert response.status_code == 201, response.json()
    data = response.json()["data"]
    assert data["keypadEntry"] == ZIP
    script = Script.objects.get(pk=data["id"])
    spec = ScriptSpec.from_dict(script.versions.get(number=1).snapshot)
    assert spec.keypad_entry is not None
    assert (spec.keypad_entry.name, spec.keypad_entry.max_digits) == ("zip_code", 5)

    cleared = owner.client.patch(f"{SCRIPTS}/{script.pk}", {"keypadEntry": None}, format="json")
    # The prompt now names no keys and asks for no number.
    assert cleared.status_code == 400
    assert cleared.json()["error"]["details"] == {
        "keypad": ["The keypad prompt names keys, but the keypad has none."]
    }
    changed = owner.client.patch(
        f"{SCRIPTS}/{script.pk}", {"keypadEntry": {**ZIP, "maxDigits": 0}}, format="json"
    )
    assert changed.status_code == 200
    script.refresh_from_db()
    assert script.version == 2
    assert script.versions.get(number=2).snapshot["keypad_entry"]["max_digits"] == 0


@pytest.mark.parametrize(
    ("entry", "messages"),
    [
        (
            {**ZIP, "name": "Zip Code", "maxDigits": 1, "endKey": "5", "timeoutSeconds": 60},
            [
                "The keypad entry's name must be 1-40 lowercase letters, digits or "
                "underscores, starting with a letter (e.g. zip_code).",
                "The keypad entry's max_digits must be 0 (no fixed length) or 2-32.",
                'The keypad entry\'s end_key must be "#", "*" or "" (none).',
                "The keypad entry's timeout_seconds (the pause that ends it) must be 1-10.",
            ],
        ),
    ],
)
def test_a_bad_keypad_entry_is_refused(owner, entry, messages):
    body = {**VALID, "keypadEntry": entry}
    response = owner.client.post(SCRIPTS, body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"keypadEntry": messages}
    assert not Script.objects.exists()


def test_an_entry_needs_a_prompt_that_asks_for_it():
    from scripts.validation import keypad_entry_errors, keypad_errors

    entry = {"name": "zip_code"}
    assert keypad_errors([], "", entry) == [
        "A keypad entry needs a keypad prompt that asks the caller to type it."
    ]
    assert keypad_errors([], "Type your zip code.", entry) == []
    assert keypad_entry_errors({"name": "zip_code", "colour": "red"}) == [
        "Unknown keypad entry fields: colour."
    ]
    assert keypad_entry_errors(None) == keypad_entry_errors({}) == []


def test_the_admin_edits_the_keypad_entry(client, owner):
    import json

    script = ScriptFactory(organization=owner.organization)
    client.force_login(staff(owner))
    url = f"/admin/scripts/script/{script.pk}/change/"
    entry = {"name": "zip_code", "max_digits": 5}
    data = form_data(
        script,
        keypad_prompt="Type your zip code.",
        keypad_entry=json.dumps(entry),
        **{"objections-TOTAL_FORMS": "0"},
    )
    response = client.post(url, data)
    assert response.status_code == 302
    script.refresh_from_db()
    assert script.keypad_entry == entry
    assert script.versions.get(number=2).snapshot["keypad_entry"] == entry

    bad = client.post(url, {**data, "keypad_entry": json.dumps({"name": "Zip"})})
    assert bad.status_code == 200
    assert "name must be 1-40 lowercase" in bad.content.decode()
