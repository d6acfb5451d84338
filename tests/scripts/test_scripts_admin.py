"""The scripts admin: inline objections, rendered preview, warnings, versions on save."""

from __future__ import annotations

import json

from django.contrib.auth.models import Permission

from scripts.factories import ScriptFactory
from scripts.models import Script, ScriptVersion


def staff(persona):
    user = persona.membership.user
    user.is_staff = True
    user.save()
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="scripts"))
    return user


def form_data(script: Script, **changes: object) -> dict[str, object]:
    objections = list(script.objections.all())
    data: dict[str, object] = {
        "organization": script.organization_id,
        "name": script.name,
        "language": script.language,
        "opening_line": script.opening_line,
        "closing_line": script.closing_line,
        "voicemail_message": script.voicemail_message,
        "system_prompt": script.system_prompt,
        "tools": json.dumps(script.tools),
        "tool_rules": json.dumps(script.tool_rules),
        "ivr_target": script.ivr_target,
        "ivr_timeout_seconds": script.ivr_timeout_seconds,
        "objections-TOTAL_FORMS": str(len(objections) + 1),
        "objections-INITIAL_FORMS": str(len(objections)),
        "objections-MIN_NUM_FORMS": "0",
        "objections-MAX_NUM_FORMS": "1000",
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
        "versions-MIN_NUM_FORMS": "0",
        "versions-MAX_NUM_FORMS": "1000",
    }
    for index, objection in enumerate(objections):
        data[f"objections-{index}-id"] = objection.pk
        data[f"objections-{index}-script"] = script.pk
        data[f"objections-{index}-position"] = objection.position
        data[f"objections-{index}-trigger"] = objection.trigger
        data[f"objections-{index}-response"] = objection.response
    data.update(changes)
    return data


def test_it_shows_the_rendered_opening_line_and_usage(client, owner):
    script = ScriptFactory(
        organization=owner.organization,
        objection_responses=[{"trigger": "too expensive", "response": "It pays for itself."}],
    )
    client.force_login(staff(owner))

    content = client.get(f"/admin/scripts/script/{script.pk}/change/").content.decode()

    assert "Hi Jordan, this is Alex, an AI assistant calling from Acme." in content
    assert "Not used" in content
    assert "too expensive" in content


def test_it_records_a_version_when_objections_change_in_the_admin(client, owner):
    script = ScriptFactory(organization=owner.organization)
    client.force_login(staff(owner))
    data = form_data(
        script,
        **{
            "objections-0-position": "0",
            "objections-0-trigger": "not interested",
            "objections-0-response": "Can I ask what would change your mind?",
        },
    )

    response = client.post(f"/admin/scripts/script/{script.pk}/change/", data)

    assert response.status_code == 302
    latest = ScriptVersion.objects.filter(script=script).order_by("-number").first()
    assert latest is not None
    assert latest.number == 2
    assert latest.snapshot["objection_responses"] == [
        {"trigger": "not interested", "response": "Can I ask what would change your mind?"}
    ]


def test_it_refuses_an_unknown_placeholder_in_the_admin(client, owner):
    script = ScriptFactory(organization=owner.organization)
    client.force_login(staff(owner))

    response = client.post(
        f"/admin/scripts/script/{script.pk}/change/",
        form_data(script, opening_line="Hi {{nickname}}!"),
    )

    assert response.status_code == 200
    assert "Unknown placeholder" in response.content.decode()
    script.refresh_from_db()
    assert script.version == 1


def test_it_refuses_a_required_disclosure_without_text_in_the_admin(client, owner):
    script = ScriptFactory(organization=owner.organization)
    client.force_login(staff(owner))

    response = client.post(
        f"/admin/scripts/script/{script.pk}/change/",
        form_data(script, recording_disclosure="  ", recording_disclosure_required="on"),
    )

    assert response.status_code == 200
    assert "A required recording disclosure needs its text" in response.content.decode()
    script.refresh_from_db()
    assert (script.recording_disclosure_required, script.version) == (False, 1)


def test_a_disclosure_saved_in_the_admin_is_in_the_next_version(client, owner):
    script = ScriptFactory(organization=owner.organization)
    client.force_login(staff(owner))

    response = client.post(
        f"/admin/scripts/script/{script.pk}/change/",
        form_data(
            script,
            recording_disclosure="This call is recorded for quality.",
            recording_disclosure_required="on",
            **{"objections-TOTAL_FORMS": "0"},
        ),
    )

    assert response.status_code == 302
    latest = ScriptVersion.objects.filter(script=script).order_by("-number").first()
    assert latest is not None
    assert latest.snapshot["recording_disclosure"] == "This call is recorded for quality."
    assert latest.snapshot["recording_disclosure_required"] is True


def test_it_refuses_a_tool_with_an_internal_url_in_the_admin(client, owner):
    script = ScriptFactory(organization=owner.organization)
    client.force_login(staff(owner))
    tool = {
        "type": "http",
        "name": "book_slot",
        "description": "Book a slot.",
        "parameters": {"type": "object", "properties": {}},
        "url": "https://169.254.169.254/latest",
    }

    response = client.post(
        f"/admin/scripts/script/{script.pk}/change/",
        form_data(script, tools=json.dumps([tool])),
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["tools"] == [
        "Tool 1 (book_slot): the URL must not point to a private, loopback or link-local address."
    ]
    script.refresh_from_db()
    assert [item["name"] for item in script.tools] == [
        "end_call",
        "schedule_callback",
        "add_to_do_not_call",
    ]


def test_a_phone_menu_target_is_set_and_checked_in_the_admin(client, owner):
    script = ScriptFactory(organization=owner.organization)
    client.force_login(staff(owner))
    url = f"/admin/scripts/script/{script.pk}/change/"

    no_objections = {"objections-TOTAL_FORMS": "0"}
    refused = client.post(url, form_data(script, ivr_target="###", **no_objections))
    assert refused.status_code == 200
    assert "Name where to get to in a phone menu" in refused.content.decode()

    saved = client.post(
        url, form_data(script, ivr_target="a person", **{"objections-TOTAL_FORMS": "0"})
    )
    assert saved.status_code == 302
    latest = ScriptVersion.objects.filter(script=script).order_by("-number").first()
    assert latest is not None
    assert latest.snapshot["ivr_target"] == "a person"
