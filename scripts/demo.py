"""The demo organization's script: one that the simulator's personas exercise end to end."""

from __future__ import annotations

from anvil_voice.accounts.models import Organization
from scripts import services
from scripts.models import Script

DEMO_SCRIPT_NAME = "Solar savings (demo)"


def script_seed_demo(organization: Organization) -> Script:
    existing = Script.objects.filter(organization=organization, name=DEMO_SCRIPT_NAME).first()
    if existing is not None:
        return existing
    return services.script_create(
        organization=organization,
        fields={
            "name": DEMO_SCRIPT_NAME,
            "opening_line": (
                "Hi {{first_name|there}}, this is Alex, an AI assistant calling from "
                "{{business_name}}. We help homeowners cut their power bill with solar. "
                "Would you like a free quote?"
            ),
            "closing_line": "Wonderful! A specialist will email you the details today. Goodbye!",
            "system_prompt": (
                "You are Alex, a friendly AI assistant for a solar installer. Keep answers "
                "short, never pressure, and offer a free quote."
            ),
            "voicemail_message": (
                "Hi {{first_name|there}}, this is Alex, an AI assistant from {{business_name}}, "
                "about lowering your power bill with solar. We'll try you again soon."
            ),
        },
        objection_responses=[
            {
                "trigger": "we already have a provider",
                "response": "That's fine, many of our customers switched and saved. "
                "Would a free comparison help?",
            },
            {
                "trigger": "too expensive",
                "response": "There's nothing to pay upfront, and most homes save from month one.",
            },
        ],
    )
