"""A session as the carrier sees it: the carrier-neutral `OutboundCall` built from the model.

Telephony never imports the product apps, so the carrier protocol takes an `OutboundCall`;
this is where a session (and its campaign's recording and voicemail choices) becomes one.
"""

from __future__ import annotations

from collections.abc import Sequence

from anvil_voice.telephony.carrier import HeldElsewhere, OutboundCall
from sessions.models import CallSession

# `campaigns.VoicemailBehaviour.HANG_UP`: sessions never import campaigns (one direction only).
HANG_UP_ON_MACHINES = "hang_up"
LEAVE_MESSAGE_ON_MACHINES = "leave_message"


def outbound_call(session: CallSession) -> OutboundCall:
    # Test calls have no campaign: no recording, hang up on machines.
    campaign = session.campaign
    return OutboundCall(
        reference=session.pk,
        token=session.token,
        to_number=session.to_number,
        from_number=session.from_number,
        record=campaign is not None and bool(campaign.record_calls),
        leave_voicemail_message=(
            campaign is not None and campaign.voicemail_behaviour == LEAVE_MESSAGE_ON_MACHINES
        ),
        placed_at=session.placed_at,
        call_sid=session.carrier_call_sid or "",
    )


def held_by_other_sessions(session: CallSession) -> HeldElsewhere:
    """For `Carrier.find_call`: which of these call ids other sessions already hold."""

    def held(sids: Sequence[str]) -> set[str]:
        found = (
            CallSession.objects.filter(carrier_call_sid__in=list(sids))
            .exclude(pk=session.pk)
            .values_list("carrier_call_sid", flat=True)
        )
        return {sid for sid in found if sid}

    return held
