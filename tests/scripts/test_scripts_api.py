"""`/api/v1/voice/scripts`: list, create, PATCH, delete, render, versions."""

from __future__ import annotations

import pytest

from scripts.engine import ScriptSpec
from scripts.factories import ScriptFactory
from scripts.models import Script, ScriptVersion

SCRIPTS = "/api/v1/voice/scripts"

VALID = {
    "name": "Solar outreach",
    "openingLine": "Hi {{first_name|there}}, this is Alex, an AI assistant from Acme.",
    "closingLine": "Wonderful, I'll email you the details. Goodbye!",
    "systemPrompt": "You are a friendly solar sales agent.",
    "objectionResponses": [
        {"trigger": "too expensive", "response": "Most customers save from month one."},
        {"trigger": "already have a provider", "response": "We can beat your current rate."},
    ],
}


def script_payload(script: Script) -> dict[str, object]:
    script.refresh_from_db()
    return {
        "id": script.pk,
        "name": script.name,
        "openingLine": script.opening_line,
        "closingLine": script.closing_line,
        "systemPrompt": script.system_prompt,
        "voicemailMessage": script.voicemail_message,
        "language": script.language,
        "openingInterruptible": script.opening_interruptible,
        "closingInterruptible": script.closing_interruptible,
        "recordingDisclosure": script.recording_disclosure,
        "recordingDisclosureRequired": script.recording_disclosure_required,
        "keypad": script.keypad,
        "keypadPrompt": script.keypad_prompt,
        "keypadEntry": script.keypad_entry,
        "objectionResponses": [
            {"trigger": o.trigger, "response": o.response} for o in script.objections.all()
        ],
        # A new script offers the three built-in tools (scripts.models.default_tools).
        "tools": [
            {"type": "builtin", "name": "end_call"},
            {"type": "builtin", "name": "schedule_callback"},
            {"type": "builtin", "name": "add_to_do_not_call"},
        ],
        "toolRules": [],
        "ivrTarget": "",
        "ivrTimeoutSeconds": 120,
        "transfer": script.transfer,
        "version": script.version,
        "warnings": [],
        "createdAt": script.created_at.isoformat().replace("+00:00", "Z"),
        "updatedAt": script.updated_at.isoformat().replace("+00:00", "Z"),
        # A single script's answers carry the secret its tool requests are signed with.
        "toolSecret": script.tool_secret,
    }


def test_it_creates_a_script_with_ordered_objections(owner):
    response = owner.client.post(SCRIPTS, VALID, format="json")

    assert response.status_code == 201
    script = Script.objects.get()
    assert response.json() == {"success": True, "data": script_payload(script)}
    assert response.json()["data"]["objectionResponses"] == VALID["objectionResponses"]
    assert script.version == 1
    assert ScriptVersion.objects.get(script=script).snapshot["objection_responses"] == [
        {"trigger": "too expensive", "response": "Most customers save from month one."},
        {"trigger": "already have a provider", "response": "We can beat your current rate."},
    ]


def test_lines_that_must_not_be_interrupted_are_script_fields_kept_in_each_version(owner):
    response = owner.client.post(SCRIPTS, VALID, format="json")
    data = response.json()["data"]
    # The opening may be cut off and the goodbye is heard whole, unless the script says so.
    assert (data["openingInterruptible"], data["closingInterruptible"]) == (True, False)

    response = owner.client.patch(
        f"{SCRIPTS}/{data['id']}",
        {"openingInterruptible": False, "closingInterruptible": True},
        format="json",
    )

    assert response.status_code == 200
    script = Script.objects.get()
    assert (script.opening_interruptible, script.closing_interruptible) == (False, True)
    assert response.json()["data"] == script_payload(script)
    # It changes what a call does, so it is a new version, and the engine reads it back.
    latest = ScriptVersion.objects.get(script=script, number=2)
    assert latest.snapshot["opening_interruptible"] is False
    assert latest.snapshot["closing_interruptible"] is True
    spec = ScriptSpec.from_dict(latest.snapshot)
    assert (spec.opening_interruptible, spec.closing_interruptible) == (False, True)
    # A snapshot from before the fields existed reads as the defaults.
    old = {k: v for k, v in latest.snapshot.items() if not k.endswith("_interruptible")}
    assert ScriptSpec.from_dict(old).opening_interruptible is True


def test_a_required_recording_disclosure_is_a_versioned_script_field(owner):
    response = owner.client.post(
        SCRIPTS,
        {
            **VALID,
            "recordingDisclosure": "This call is recorded for quality by {{business_name}}.",
            "recordingDisclosureRequired": True,
        },
        format="json",
    )

    assert response.status_code == 201
    script = Script.objects.get()
    assert response.json()["data"] == script_payload(script)
    assert script.recording_disclosure_required is True
    first = ScriptVersion.objects.get(script=script, number=1).snapshot
    assert (
        first["recording_disclosure"] == "This call is recorded for quality by {{business_name}}."
    )
    assert first["recording_disclosure_required"] is True

    # Dropping the requirement changes what a call does: a new version.
    response = owner.client.patch(
        f"{SCRIPTS}/{script.pk}", {"recordingDisclosureRequired": False}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["data"]["recordingDisclosureRequired"] is False
    assert (
        ScriptVersion.objects.get(script=script, number=2).snapshot["recording_disclosure_required"]
        is False
    )


@pytest.mark.parametrize("text", ["", "   ", "..."])
def test_it_refuses_a_required_disclosure_without_words(owner, text):
    response = owner.client.post(
        SCRIPTS,
        {**VALID, "recordingDisclosure": text, "recordingDisclosureRequired": True},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert response.json()["error"]["details"] == {
        "recordingDisclosure": [
            'A required recording disclosure needs its text (e.g. "This call is recorded.").'
        ]
    }
    assert not Script.objects.exists()


def test_it_refuses_to_require_a_disclosure_the_script_does_not_have(owner):
    script = ScriptFactory(organization=owner.organization)

    response = owner.client.patch(
        f"{SCRIPTS}/{script.pk}", {"recordingDisclosureRequired": True}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["recordingDisclosure"]
    script.refresh_from_db()
    assert (script.recording_disclosure_required, script.version) == (False, 1)


def test_a_disclosure_placeholder_is_checked_like_the_lines(owner):
    response = owner.client.post(
        SCRIPTS,
        {
            **VALID,
            "recordingDisclosure": "Recorded by {{compnay}}.",
            "recordingDisclosureRequired": True,
        },
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["recordingDisclosure"]


def test_it_lists_scripts_with_search_and_updated_range(owner, outsider):
    ScriptFactory(organization=owner.organization, name="Solar")
    ScriptFactory(organization=owner.organization, name="Insurance")
    ScriptFactory(organization=outsider.organization, name="Solar elsewhere")

    everything = owner.client.get(SCRIPTS).json()
    searched = owner.client.get(SCRIPTS, {"search": "sol"}).json()
    future = owner.client.get(SCRIPTS, {"updatedAfter": "2999-01-01T00:00:00Z"}).json()

    assert [row["name"] for row in everything["data"]] == ["Insurance", "Solar"]
    assert [row["name"] for row in searched["data"]] == ["Solar"]
    assert future["data"] == []
    assert future["meta"] == {"total": 0, "cursor": None, "hasMore": False}


def test_it_refuses_a_malformed_filter_value(owner):
    response = owner.client.get(SCRIPTS, {"updatedAfter": "last tuesday"})

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"updatedAfter": ["Enter a valid date/time."]}


def test_it_patches_and_records_a_new_version(owner):
    script = ScriptFactory(organization=owner.organization)

    response = owner.client.patch(
        f"{SCRIPTS}/{script.pk}",
        {
            "closingLine": "Thanks, talk soon!",
            "objectionResponses": [VALID["objectionResponses"][1]],
        },
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["data"] == script_payload(script)
    assert response.json()["data"]["version"] == 2
    first, second = ScriptVersion.objects.filter(script=script).order_by("number")
    assert first.snapshot["closing_line"] == "Great, I'll send the details by email. Goodbye!"
    assert second.snapshot["closing_line"] == "Thanks, talk soon!"
    assert second.snapshot["objection_responses"] == [VALID["objectionResponses"][1]]


def test_it_keeps_the_version_when_only_the_name_changes(owner):
    script = ScriptFactory(organization=owner.organization)

    response = owner.client.patch(f"{SCRIPTS}/{script.pk}", {"name": "Renamed"}, format="json")

    assert response.json()["data"]["version"] == 1
    assert ScriptVersion.objects.filter(script=script).count() == 1


def test_it_renders_lines_for_a_sample_contact_and_given_variables(owner):
    script = ScriptFactory(organization=owner.organization)

    sample = owner.client.post(f"{SCRIPTS}/{script.pk}/render", {}, format="json").json()
    custom = owner.client.post(
        f"{SCRIPTS}/{script.pk}/render", {"variables": {"first_name": ""}}, format="json"
    ).json()

    assert sample["data"]["openingLine"] == (
        "Hi Jordan, this is Alex, an AI assistant calling from Acme."
    )
    assert custom["data"]["openingLine"] == (
        "Hi there, this is Alex, an AI assistant calling from Acme."
    )


def test_it_warns_without_blocking_when_disclosure_or_business_is_missing(owner):
    response = owner.client.post(
        SCRIPTS, {**VALID, "openingLine": "Hi {{first_name|there}}, got a minute?"}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["data"]["warnings"] == [
        "The opening line does not name the business ('Acme' or {{business_name}}).",
        "Your organization requires an AI disclosure: the opening line should say the caller "
        "is an AI or automated assistant.",
    ]


def test_it_deletes_an_unused_script(owner):
    script = ScriptFactory(organization=owner.organization)

    response = owner.client.delete(f"{SCRIPTS}/{script.pk}")

    assert (response.status_code, response.content) == (204, b"")
    assert not Script.objects.exists()


def test_it_hides_another_organizations_script(owner, outsider):
    script = ScriptFactory(organization=owner.organization)

    for method, suffix in [("get", ""), ("patch", ""), ("delete", ""), ("post", "/render")]:
        response = getattr(outsider.client, method)(
            f"{SCRIPTS}/{script.pk}{suffix}", {}, format="json"
        )
        assert response.status_code == 404, (method, suffix)
    assert Script.objects.filter(pk=script.pk).exists()


def test_it_forbids_viewers_from_writing(viewer):
    response = viewer.client.post(SCRIPTS, VALID, format="json")

    assert response.status_code == 403
    assert not Script.objects.exists()


def test_it_lists_versions(owner):
    script = ScriptFactory(organization=owner.organization)
    owner.client.patch(
        f"{SCRIPTS}/{script.pk}", {"openingLine": "Hello from Acme, I'm an AI."}, format="json"
    )

    body = owner.client.get(f"{SCRIPTS}/{script.pk}/versions").json()

    assert [row["number"] for row in body["data"]] == [2, 1]
    assert body["data"][0]["snapshot"]["opening_line"] == "Hello from Acme, I'm an AI."


@pytest.mark.parametrize(
    ("change", "details"),
    [
        ({"openingLine": ""}, {"openingLine": ["This field may not be blank."]}),
        ({"closingLine": "   "}, {"closingLine": ["This field may not be blank."]}),
        (
            {"systemPrompt": "x" * 10_000},
            {"systemPrompt": ["Ensure this field has no more than 8000 characters."]},
        ),
        (
            {"openingLine": "Hi {{first name}}!"},
            {
                "openingLine": [
                    "Placeholder '{{first name}}' is malformed: names use lowercase letters, "
                    "digits and underscores, e.g. {{first_name}}."
                ]
            },
        ),
        (
            {"openingLine": "Hi {{frist_name}}!"},
            {"openingLine": ["Unknown placeholder '{{frist_name}}'. Did you mean {{first_name}}?"]},
        ),
        (
            {
                "objectionResponses": [
                    {"trigger": "price", "response": "a"},
                    {"trigger": "Price!", "response": "b"},
                ]
            },
            {"objectionResponses": ["Objection 2: the trigger 'Price!' repeats objection 1."]},
        ),
        (
            {"objectionResponses": [{"trigger": "?!", "response": "a"}]},
            {"objectionResponses": ["Objection 1: the trigger must contain words."]},
        ),
        (
            {"objectionResponses": [{"trigger": "", "response": "a"}]},
            {"objectionResponses": {"0": {"trigger": ["This field may not be blank."]}}},
        ),
        (
            {"objectionResponses": {"trigger": "price", "response": "a"}},
            {
                "objectionResponses": {
                    "nonFieldErrors": ['Expected a list of items but got type "dict".']
                }
            },
        ),
        ({"version": 7}, {"version": ["This field is read-only."]}),
        ({"organization": 2}, {"organization": ["Unknown field."]}),
    ],
)
def test_it_refuses_bad_input_and_writes_nothing(owner, change, details):
    response = owner.client.post(SCRIPTS, {**VALID, **change}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert response.json()["error"]["details"] == details
    assert not Script.objects.exists()
    assert not ScriptVersion.objects.exists()


def test_it_refuses_a_bad_patch_and_keeps_the_script(owner):
    script = ScriptFactory(organization=owner.organization)

    response = owner.client.patch(
        f"{SCRIPTS}/{script.pk}",
        {"closingLine": "Bye", "objectionResponses": [{"trigger": "...", "response": "x"}]},
        format="json",
    )

    assert response.status_code == 400
    script.refresh_from_db()
    assert script.closing_line == "Great, I'll send the details by email. Goodbye!"
    assert script.version == 1


def test_a_phone_menu_target_is_a_versioned_script_field(owner):
    response = owner.client.post(
        SCRIPTS,
        {**VALID, "ivrTarget": "someone in accounts", "ivrTimeoutSeconds": 60},
        format="json",
    )

    assert response.status_code == 201, response.json()
    assert response.json()["data"]["ivrTarget"] == "someone in accounts"
    snapshot = ScriptVersion.objects.get().snapshot
    assert (snapshot["ivr_target"], snapshot["ivr_timeout_seconds"]) == ("someone in accounts", 60)
    spec = ScriptSpec.from_dict(snapshot)
    assert (spec.ivr_target, spec.ivr_timeout_seconds) == ("someone in accounts", 60)
    # A snapshot from before the fields existed: no menu handling.
    old = {k: v for k, v in snapshot.items() if not k.startswith("ivr_")}
    assert ScriptSpec.from_dict(old).ivr_target == ""


def test_a_phone_menu_target_needs_words_and_a_sane_limit(owner):
    bad = owner.client.post(SCRIPTS, {**VALID, "ivrTarget": "123"}, format="json")
    assert bad.status_code == 400
    assert "ivrTarget" in str(bad.json())
    too_long = owner.client.post(SCRIPTS, {**VALID, "ivrTimeoutSeconds": 5000}, format="json")
    assert too_long.status_code == 400
    assert "ivrTimeoutSeconds" in str(too_long.json())
    assert not Script.objects.exists()
