"""TwiML parsing: the subset of Voice TwiML our product emits, as typed verbs.

Twilio accepts many more verbs; anything else is refused here (as a parse failure) so a test
notices when our TwiML drifts outside what the simulator can faithfully execute.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field

TWIML_MAX_CHARS = 4000
# `<Play digits>`: keys and `w` (a half-second wait), as Twilio documents them.
_DIGITS = re.compile(r"^[0-9*#w]+$")


class TwimlError(ValueError):
    """TwiML the simulator cannot parse or execute (Twilio: 12100 document parse failure)."""


@dataclass(frozen=True)
class Say:
    text: str
    voice: str | None = None
    loop: int = 1


@dataclass(frozen=True)
class Play:
    url: str
    loop: int = 1
    digits: str = ""  # `<Play digits="1w2"/>`: DTMF tones instead of a file (then no URL)


@dataclass(frozen=True)
class Pause:
    length: int = 1


@dataclass(frozen=True)
class Hangup:
    pass


@dataclass(frozen=True)
class Stream:
    url: str
    name: str | None = None
    track: str = "inbound_track"
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Connect:
    stream: Stream


@dataclass(frozen=True)
class Conference:
    """`<Dial><Conference …>name</Conference></Dial>`: the call joins the named conference.

    Twilio's defaults: `startConferenceOnEnter=true` (a participant who enters starts it; one
    who does not waits, hearing `waitUrl`, until one who does joins), `endConferenceOnExit=false`
    (one who leaves with true ends it for everybody), and a `waitUrl` of Twilio's own hold music
    (the simulator plays silence for that one: it is not ours to fetch)."""

    name: str
    start_on_enter: bool = True
    end_on_exit: bool = False
    wait_url: str | None = None
    wait_method: str = "POST"
    beep: bool = True


@dataclass(frozen=True)
class Dial:
    """`<Dial action=… timeout=… callerId=…><Number>…</Number></Dial>` (or the number as the
    element's text): the call leaves what it was doing and rings one more party; or
    `<Dial><Conference>name</Conference></Dial>`: it joins a conference (`conference`)."""

    number: str
    action: str | None = None
    method: str = "POST"
    timeout: int = 30  # Twilio's default ring time for `<Dial>`
    caller_id: str | None = None
    # `<Number url>`: TwiML run to the person who answers, before the two are connected.
    whisper_url: str | None = None
    whisper_method: str = "POST"
    conference: Conference | None = None


Verb = Say | Play | Pause | Hangup | Connect | Dial


def parse_twiml(document: str) -> list[Verb]:
    """Parse a `<Response>` document into verbs, or raise TwimlError."""
    try:
        # The documents come from our own code over loopback, and ElementTree does not resolve
        # external entities, so the usual XML-bomb concern does not apply to a test double.
        root = ElementTree.fromstring(document)  # noqa: S314
    except ElementTree.ParseError as error:
        raise TwimlError(f"TwiML is not well-formed XML: {error}") from error
    if root.tag != "Response":
        raise TwimlError(f"TwiML root must be <Response>, not <{root.tag}>")
    return [_parse_verb(element) for element in root]


def _parse_verb(element: ElementTree.Element) -> Verb:
    match element.tag:
        case "Say":
            text = "".join(element.itertext()).strip()
            if not text:
                raise TwimlError("<Say> needs text")
            return Say(text=text, voice=element.get("voice"), loop=_int(element, "loop", 1))
        case "Play":
            url = (element.text or "").strip()
            digits = element.get("digits", "")
            if digits and not _DIGITS.fullmatch(digits):
                raise TwimlError("<Play digits> may only hold 0-9, *, # and w")
            if not url and not digits:
                raise TwimlError("<Play> needs a URL or digits")
            return Play(url=url, loop=_int(element, "loop", 1), digits=digits)
        case "Pause":
            return Pause(length=_int(element, "length", 1))
        case "Hangup":
            return Hangup()
        case "Connect":
            streams = [child for child in element if child.tag == "Stream"]
            if len(streams) != 1 or len(element) != 1:
                raise TwimlError("<Connect> must hold exactly one <Stream>")
            return Connect(stream=_parse_stream(streams[0]))
        case "Dial":
            return _parse_dial(element)
        case _:
            raise TwimlError(f"unsupported TwiML verb <{element.tag}>")


def _parse_dial(element: ElementTree.Element) -> Dial:
    conferences = [child for child in element if child.tag == "Conference"]
    if conferences:
        if len(element) != 1:
            raise TwimlError("<Dial> may hold one <Conference> and nothing else")
        return Dial(
            number="",
            action=element.get("action") or None,
            method=element.get("method", "POST").upper(),
            conference=_parse_conference(conferences[0]),
        )
    numbers = [child for child in element if child.tag == "Number"]
    if len(element) != len(numbers) or len(numbers) > 1:
        raise TwimlError("<Dial> may hold one <Number> or one <Conference> (SIP is not simulated)")
    number = ((numbers[0].text if numbers else element.text) or "").strip()
    if not number:
        raise TwimlError("<Dial> needs a number")
    method = element.get("method", "POST").upper()
    if method not in ("GET", "POST"):
        raise TwimlError("<Dial method> must be GET or POST")
    whisper_url = numbers[0].get("url") if numbers else None
    return Dial(
        number=number,
        action=element.get("action") or None,
        method=method,
        timeout=_int(element, "timeout", 30),
        caller_id=element.get("callerId"),
        whisper_url=whisper_url or None,
        whisper_method=(numbers[0].get("method", "POST") if numbers else "POST").upper(),
    )


def _parse_conference(element: ElementTree.Element) -> Conference:
    name = (element.text or "").strip()
    if not name:
        raise TwimlError("<Conference> needs a name")
    wait_method = element.get("waitMethod", "POST").upper()
    if wait_method not in ("GET", "POST"):
        raise TwimlError("<Conference waitMethod> must be GET or POST")
    return Conference(
        name=name,
        start_on_enter=_bool(element, "startConferenceOnEnter", True),
        end_on_exit=_bool(element, "endConferenceOnExit", False),
        wait_url=element.get("waitUrl") or None,
        wait_method=wait_method,
        beep=element.get("beep", "true") != "false",
    )


def _bool(element: ElementTree.Element, attribute: str, default: bool) -> bool:
    raw = element.get(attribute)
    if raw is None:
        return default
    if raw not in ("true", "false"):
        raise TwimlError(f"<{element.tag} {attribute}> must be true or false")
    return raw == "true"


def _parse_stream(element: ElementTree.Element) -> Stream:
    url = element.get("url", "")
    # Bidirectional streams only work over TLS at Twilio; a ws:// URL would fail there too.
    if not url.startswith("wss://"):
        raise TwimlError("<Stream url> must be a wss:// URL")
    parameters: dict[str, str] = {}
    for child in element:
        if child.tag != "Parameter" or not child.get("name"):
            raise TwimlError("<Stream> may only hold <Parameter name=... value=...>")
        parameters[child.get("name", "")] = child.get("value", "")
    return Stream(
        url=url,
        name=element.get("name"),
        track=element.get("track", "inbound_track"),
        parameters=parameters,
    )


def _int(element: ElementTree.Element, attribute: str, default: int) -> int:
    raw = element.get(attribute)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise TwimlError(f"<{element.tag} {attribute}> must be an integer") from None
    if value < 0:
        raise TwimlError(f"<{element.tag} {attribute}> must not be negative")
    return value
