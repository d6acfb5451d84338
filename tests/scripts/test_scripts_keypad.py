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
