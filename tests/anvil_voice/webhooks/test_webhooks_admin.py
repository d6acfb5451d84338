"""The admin's webhook endpoint form applies the API's URL and event checks."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from anvil_voice.webhooks.models import WebhookEndpoint

ADD = "/admin/webhooks/webhookendpoint/add/"
# A global address written as an IP, so no test depends on DNS.
PUBLIC_URL = "https://93.184.215.14/hook"


@pytest.fixture(autouse=True)
def _settings(settings) -> None:
    settings.WEBHOOKS_ALLOW_HTTP_LOCALHOST = False


def staff(persona):  # type: ignore[no-untyped-def]
    user = persona.membership.user
    user.is_staff = True
    user.save()
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="webhooks"))
    return user


def add(client, persona, **fields):  # type: ignore[no-untyped-def]
    client.force_login(staff(persona))
    form = {
        "organization": persona.organization.pk,
        "url": PUBLIC_URL,
        "description": "",
        "events": '["session.completed"]',
        "active": "on",
        **fields,
    }
    return client.post(ADD, form)


def form_errors(response) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    form = response.context["adminform"].form
    return {field: list(messages) for field, messages in form.errors.items()}


def test_it_adds_an_endpoint_the_api_would_accept(client, owner):
    response = add(client, owner)

    assert response.status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.organization, endpoint.url, endpoint.events) == (
        owner.organization,
        PUBLIC_URL,
        ["session.completed"],
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://hooks.example.com/x", "Must be an https:// URL."),
        ("http://127.0.0.1:9/hook", "Must be an https:// URL."),
        ("https://10.0.0.5/hook", "Must not point to a private, loopback or link-local address."),
        ("https://127.0.0.1/hook", "Must not point to a private, loopback or link-local address."),
        (
            "https://169.254.169.254/latest/meta-data",
            "Must not point to a private, loopback or link-local address.",
        ),
    ],
)
def test_it_refuses_what_the_api_refuses(client, owner, url, message):
    response = add(client, owner, url=url)

    assert response.status_code == 200  # the form again, with the error
    assert form_errors(response) == {"url": [message]}
    assert not WebhookEndpoint.objects.exists()


def test_it_refuses_unknown_events(client, owner):
    response = add(client, owner, events='["session.completed", "everything"]')

    assert form_errors(response) == {"events": ["Unknown event: everything."]}
    assert not WebhookEndpoint.objects.exists()


def test_a_change_is_checked_too(client, owner):
    endpoint = WebhookEndpoint.objects.create(
        organization=owner.organization, url=PUBLIC_URL, events=["session.completed"]
    )
    client.force_login(staff(owner))

    response = client.post(
        f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/",
        {
            "organization": owner.organization.pk,
            "url": "https://192.168.1.20:8443/hook",
            "description": "",
            "events": '["session.completed"]',
            "active": "on",
        },
    )

    assert form_errors(response) == {
        "url": ["Must not point to a private, loopback or link-local address."]
    }
    endpoint.refresh_from_db()
    assert endpoint.url == PUBLIC_URL
