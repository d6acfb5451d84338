"""The session page's cost table (`CallSessionAdmin.cost_breakdown`): what the call used of
each provider and what it cost (`sessions.costs`)."""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from sessions.costs import cost_payload
from sessions.models import CallSession, SessionCost


def cost_breakdown_html(session: CallSession) -> SafeString | str:
    payload = cost_payload(SessionCost.objects.filter(session_id=session.pk).first())
    if payload is None:
        return "Not priced yet (a call is priced when it ends)."
    parts = payload["breakdown"]
    carrier, stt, tts, llm, compute = (
        parts["carrier"],
        parts["speechToText"],
        parts["textToSpeech"],
        parts["llm"],
        parts["compute"],
    )
    minutes = f"{carrier['seconds']} s → {carrier['billedMinutes']} billed min"
    if carrier["transferBilledMinutes"]:
        minutes += f" + {carrier['transferBilledMinutes']} min of transfer legs"
    tokens = f"{llm['inputTokens']} in / {llm['outputTokens']} out tokens"
    if llm["requestsWithoutUsage"]:
        tokens += f" ({llm['requestsWithoutUsage']} replies without a token count)"
    rows = [
        ("Carrier", carrier["provider"] or "-", minutes, carrier["cost"]),
        (
            "Speech to text",
            stt["provider"] or "-",
            f"{stt['audioSeconds']} s of audio",
            stt["cost"],
        ),
        ("Text to speech", tts["provider"] or "-", f"{tts['characters']} characters", tts["cost"]),
        ("LLM", llm["provider"] or "-", tokens, llm["cost"]),
        (
            "Compute (local models)",
            "this deployment",
            f"{compute['cpuSeconds']} CPU s",
            compute["cost"],
        ),
    ]
    body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows)
    unpriced = ""
    if payload["unpriced"]:
        unpriced = f" No price for: {', '.join(payload['unpriced'])} (counted as 0)."
    return format_html(
        '<table class="session-cost" data-testid="session-cost"><thead><tr><th>Part</th>'
        "<th>Provider</th><th>Used</th><th>Cost</th></tr></thead><tbody>{}</tbody><tfoot><tr>"
        "<th colspan=3>Total</th><th>{} {}</th></tr></tfoot></table><p>{}</p>",
        body,
        payload["total"],
        payload["currency"],
        unpriced.strip(),
    )
