"""TwiML for our calls: connect the callee to our Media Stream websocket.

Twilio only dials `wss://` streams (the simulator refuses `ws://` too), so the stream URL is
always `wss://` + the host of `PUBLIC_BASE_URL`, even locally where the server speaks plain
HTTP: the simulator is told to connect to `ws://` for that prefix (its URL rewrites) and signs
the URL as written, which is what `validate_stream_handshake` checks.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from django.conf import settings
from twilio.twiml.voice_response import Connect, Dial, Play, VoiceResponse

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
    return _xml(response)


def _xml(response: VoiceResponse) -> str:
    # The SDK escapes attribute values; without the XML declaration we keep more headroom.
    twiml = response.to_xml(xml_declaration=False)
    if len(twiml) > TWIML_MAX_CHARS:
        raise TwimlTooLong(f"TwiML is {len(twiml)} characters; Twilio accepts {TWIML_MAX_CHARS}")
    return twiml


def dial_twiml(
    *,
    target: str,
    caller_id: str,
    timeout_seconds: int,
    action_url: str,
    briefing_url: str = "",
) -> str:
    """`<Dial action=… timeout=… callerId=…><Number>target</Number></Dial>`: the call leaves
    our stream and rings the target; when that leg ends Twilio POSTs `DialCallStatus` and
    `DialCallDuration` to `action` and runs the TwiML it answers. With `briefing_url`, the
    `<Number url>` whisper: Twilio runs that URL's TwiML to the person who answered, before the
    two are connected (a warm transfer's briefing)."""
    response = VoiceResponse()
    dial = Dial(action=action_url, method="POST", timeout=timeout_seconds, caller_id=caller_id)
    if briefing_url:
        dial.number(target, url=briefing_url, method="POST")
    else:
        dial.number(target)
    response.append(dial)
    return _xml(response)


def conference_wait_twiml(*, conference: str, hold_url: str, line: str = "") -> str:
    """The caller's side of a warm transfer: `[<Say>line</Say>]<Dial><Conference …>name`.

    `startConferenceOnEnter=false`: the caller waits, hearing `waitUrl` (our hold audio), until
    the person joins; `endConferenceOnExit=true`: the caller leaving (hanging up, or moved back
    to the agent) ends the conference for the person too. `beep=false`: nobody hears a tone
    when the other joins. The `<Dial>` has no action: when the conference ends the call goes
    on after it, where nothing is left (the call ends)."""
    response = VoiceResponse()
    if line:
        response.say(line)
    dial = Dial()
    dial.conference(
        conference,
        start_conference_on_enter=False,
        end_conference_on_exit=True,
        wait_url=hold_url,
        wait_method="POST",
        beep=False,
    )
    response.append(dial)
    return _xml(response)


def conference_join_twiml(*, conference: str, briefing: str) -> str:
    """The person's side of a warm transfer: `<Say>briefing</Say>` (the caller does not hear
    it: they are not in the same call yet), then `<Dial><Conference>` with
    `startConferenceOnEnter=true` (the caller's hold audio stops and the two are connected) and
    `endConferenceOnExit=true` (the person hanging up ends the call for the caller too)."""
    response = VoiceResponse()
    response.say(briefing)
    dial = Dial()
    dial.conference(
        conference, start_conference_on_enter=True, end_conference_on_exit=True, beep=False
    )
    response.append(dial)
    return _xml(response)


def play_loop_twiml(audio_url: str) -> str:
    """`<Play loop="0">url</Play>`: the audio again and again until the call moves on (a
    conference's `waitUrl` TwiML: the hold audio)."""
    response = VoiceResponse()
    response.append(Play(audio_url, loop=0))
    return _xml(response)


def say_twiml(text: str) -> str:
    """`<Response><Say>text</Say></Response>`."""
    response = VoiceResponse()
    response.say(text)
    return _xml(response)


def say_and_hang_up_twiml(text: str) -> str:
    """`<Say>text</Say><Hangup/>`: the last words on a call we leave (e.g. a failed transfer:
    the caller is never dropped in silence)."""
    response = VoiceResponse()
    response.say(text)
    response.hangup()
    return _xml(response)


def session_twiml(token: str) -> str:
    return connect_stream_twiml(
        stream_url=media_stream_url(token), parameters={SESSION_PARAMETER: token}
    )


EMPTY_TWIML = "<Response/>"
