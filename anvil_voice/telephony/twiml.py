"""TwiML for our calls: connect the callee to our Media Stream websocket.

Twilio only dials `wss://` streams (the simulator refuses `ws://` too), so the stream URL is
always `wss://` + the host of `PUBLIC_BASE_URL`, even locally where the server speaks plain
HTTP: the simulator is told to connect to `ws://` for that prefix (its URL rewrites) and signs
the URL as written, which is what `validate_stream_handshake` checks.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from django.conf import settings
from twilio.twiml.voice_response import Connect, VoiceResponse

# Twilio refuses a `Twiml` parameter longer than this.
TWIML_MAX_CHARS = 4000
MEDIA_STREAM_PATH = "/ws/twilio/media/{token}/"
# The `<Parameter>` carrying the session token (arrives as `start.customParameters.session`).
SESSION_PARAMETER = "session"
# The same token in the query of our status/AMD callback URLs (signed as part of the URL).
SESSION_QUERY = "session"


class TwimlTooLong(ValueError):
    pass


def public_base_url() -> str:
    return str(settings.PUBLIC_BASE_URL).rstrip("/")


def public_url(path: str, *, session_token: str = "") -> str:
    """An absolute URL Twilio can reach (callbacks); signatures are checked against it."""
    query = f"?{urlencode({SESSION_QUERY: session_token})}" if session_token else ""
    return public_base_url() + path + query


def stream_base_url() -> str:
    """`wss://host[/prefix]` for PUBLIC_BASE_URL, whatever its scheme."""
    parts = urlsplit(public_base_url())
    return f"wss://{parts.netloc}{parts.path.rstrip('/')}"


def media_stream_url(token: str) -> str:
    return stream_base_url() + MEDIA_STREAM_PATH.format(token=token)


def connect_stream_twiml(*, stream_url: str, parameters: dict[str, str]) -> str:
    """`<Response><Connect><Stream url=…><Parameter …/></Stream></Connect></Response>`."""
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=stream_url)
    for name, value in parameters.items():
        stream.parameter(name=name, value=value)
    response.append(connect)
    # The SDK escapes attribute values; without the XML declaration we keep more headroom.
    twiml = response.to_xml(xml_declaration=False)
    if len(twiml) > TWIML_MAX_CHARS:
        raise TwimlTooLong(f"TwiML is {len(twiml)} characters; Twilio accepts {TWIML_MAX_CHARS}")
    return twiml


def session_twiml(token: str) -> str:
    return connect_stream_twiml(
        stream_url=media_stream_url(token), parameters={SESSION_PARAMETER: token}
    )


EMPTY_TWIML = "<Response/>"
