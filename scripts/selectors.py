"""Reads for scripts."""

from __future__ import annotations

from anvil_voice.accounts.models import Organization
from scripts.models import Script
from scripts.validation import BUILT_IN_VARIABLES


def script_known_variables(*, organization: Organization) -> set[str]:
    """Placeholders a script may use: built-ins plus every imported custom variable name.

    Read through the reverse relation: contact lists are campaigns', and scripts (below
    campaigns) never import campaigns."""
    known = set(BUILT_IN_VARIABLES)
    for names in organization.contact_lists.values_list("variable_names", flat=True):
        known.update(str(name) for name in names or [])
    return known


def script_campaign_names(*, script: Script) -> list[str]:
    """The campaigns that use `script` (its `campaigns` reverse relation)."""
    return list(script.campaigns.order_by("name").values_list("name", flat=True))
