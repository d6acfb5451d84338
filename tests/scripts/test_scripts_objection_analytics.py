"""Objection analytics on the script page: how often each trigger fired, the outcome after it."""

from __future__ import annotations

import re

from django.contrib.auth.models import Permission

from scripts import services
from scripts.factories import ScriptFactory
from scripts.models import ScriptVersion
from sessions import analytics as call_analytics
from sessions.factories import CallSessionFactory

ROW = re.compile(
    r'<tr class="objection-row[^"]*" data-trigger="([^"]*)" data-current="(true|false)" '
    r'data-fired="(\d+)" data-calls="(\d+)">(.*?)</tr>',
    re.S,
)
OUTCOME = re.compile(r'<li data-outcome="([^"]*)" data-count="(\d+)">')


def staff(client, persona):
    user = persona.membership.user
    user.is_staff = True
    user.save()
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="scripts"))
    client.force_login(user)
    return user


def objection(trigger: str, response: str = "I understand.") -> dict[str, str]:
    return {"trigger": trigger, "response": response}


def fired(*entries: tuple[str, int]) -> dict[str, object]:
    return {
        "objections": [
            {"trigger": trigger, "index": index, "turn": turn}
            for turn, (trigger, index) in enumerate(entries, start=1)
        ]
    }


def seed(organization, other_organization):
    """Version 1 had "too expensive" and "already have solar"; version 2 (current) replaced
    the second with "need to ask my spouse"."""
    script = ScriptFactory(
        organization=organization,
        objection_responses=[objection("too expensive"), objection("already have solar")],
    )
    v1 = ScriptVersion.objects.get(script=script, number=1)
    services.script_update(
        script=script,
        fields={},
        objection_responses=[objection("too expensive"), objection("need to ask my spouse")],
    )
    v2 = ScriptVersion.objects.get(script=script, number=2)

    def call(version, extracted, outcome="") -> None:
        CallSessionFactory(
            organization=version.organization,
            script_version=version,
            extracted=extracted,
            outcome=outcome,
        )

    call(v1, fired(("too expensive", 0), ("too expensive", 0)), "not_interested")
    call(v1, fired(("already have solar", 1)), "interested")
    call(v2, fired(("too expensive", 0), ("need to ask my spouse", 1)), "callback_requested")
    call(v2, {**fired(("Need to ask  my SPOUSE", 1)), "callback_at": None})  # live: no outcome
    call(v2, {}, "interested")  # no objection: not counted anywhere
    call(v2, {"objections": "garbled"}, "failed")  # not a list: ignored
    call(v2, {"objections": [{"index": 0}, "x"]}, "failed")  # entries without a trigger
    # Another organization's calls never count, even with the same trigger text.
    foreign = ScriptFactory(
        organization=other_organization, objection_responses=[objection("too expensive")]
    )
    call(foreign.versions.get(), fired(("too expensive", 0)), "interested")
    CallSessionFactory(
        organization=other_organization,
        script_version=v2,  # a corrupt cross-tenant row: still not counted for this org
        extracted=fired(("too expensive", 0)),
        outcome="interested",
    )
    return script


def test_it_counts_firings_calls_and_outcomes_per_trigger(db, acme, globex):
    script = seed(acme, globex)

    analytics = call_analytics.script_objection_analytics(script=script)

    rows = {row.trigger: row for row in analytics.rows}
    assert [row.trigger for row in analytics.rows] == [
        "too expensive",
        "need to ask my spouse",
        "already have solar",
    ]
    expensive = rows["too expensive"]
    assert (expensive.current, expensive.fired, expensive.calls) == (True, 3, 2)
    assert dict(expensive.outcomes) == {"not_interested": 1, "callback_requested": 1}
    spouse = rows["need to ask my spouse"]
    assert (spouse.current, spouse.fired, spouse.calls) == (True, 2, 2)
    assert dict(spouse.outcomes) == {"callback_requested": 1, "": 1}
    solar = rows["already have solar"]
    assert (solar.current, solar.position, solar.fired, solar.calls) == (False, None, 1, 1)
    assert dict(solar.outcomes) == {"interested": 1}
    assert (analytics.calls_read, analytics.truncated) == (6, False)


def test_it_lists_current_triggers_that_never_fired(db, acme):
    script = ScriptFactory(
        organization=acme, objection_responses=[objection("too expensive"), objection("busy")]
    )

    analytics = call_analytics.script_objection_analytics(script=script)

    assert [(row.trigger, row.current, row.fired, row.calls) for row in analytics.rows] == [
        ("too expensive", True, 0, 0),
        ("busy", True, 0, 0),
    ]


def test_it_maps_a_rendered_trigger_back_to_the_written_one(db, acme):
    script = ScriptFactory(
        organization=acme,
        objection_responses=[objection("is {{business_name|your company}} legit")],
    )
    CallSessionFactory(
        organization=acme,
        script_version=script.versions.get(),
        extracted=fired(("is Acme Solar legit", 0)),
        outcome="interested",
    )

    (row,) = call_analytics.script_objection_analytics(script=script).rows

    assert (row.trigger, row.current, row.fired) == (
        "is {{business_name|your company}} legit",
        True,
        1,
    )


def test_it_reads_only_the_newest_calls_up_to_the_cap(db, acme):
    script = ScriptFactory(organization=acme, objection_responses=[objection("too expensive")])
    version = script.versions.get()
    for outcome in ("interested", "not_interested", "not_interested"):
        CallSessionFactory(
            organization=acme,
            script_version=version,
            extracted=fired(("too expensive", 0)),
            outcome=outcome,
        )

    analytics = call_analytics.script_objection_analytics(script=script, limit=2)

    (row,) = analytics.rows
    assert (analytics.calls_read, analytics.truncated) == (2, True)
    assert (row.fired, dict(row.outcomes)) == (2, {"not_interested": 2})


def test_the_script_page_shows_the_analytics_table(client, owner, outsider):
    staff(client, owner)
    script = seed(owner.organization, outsider.organization)

    response = client.get(f"/admin/scripts/script/{script.pk}/change/")

    content = response.content.decode()
    assert response.status_code == 200
    assert 'id="objection-analytics"' in content
    rows = {
        trigger: (current, int(fired_count), int(calls), dict(OUTCOME.findall(cell)))
        for trigger, current, fired_count, calls, cell in ROW.findall(content)
    }
    assert rows == {
        "too expensive": ("true", 3, 2, {"not_interested": "1", "callback_requested": "1"}),
        "need to ask my spouse": ("true", 2, 2, {"callback_requested": "1", "none": "1"}),
        "already have solar": ("false", 1, 1, {"interested": "1"}),
    }
    assert "no longer in the script" in content
    assert "No outcome yet 1" in content
    assert "<title>Not interested: 1 (50%)</title>" in content


def test_another_organization_cannot_open_the_script_page(client, owner, outsider):
    script = seed(owner.organization, outsider.organization)
    staff(client, outsider)

    response = client.get(f"/admin/scripts/script/{script.pk}/change/")

    assert response.status_code == 302  # the admin's "does not exist" redirect
    assert "objection-analytics" not in client.get(response.url).content.decode()


def test_the_add_page_has_no_analytics_section(client, owner):
    staff(client, owner)

    content = client.get("/admin/scripts/script/add/").content.decode()

    assert "Objection analytics" not in content
