"""Callee personas, chosen by the dialled number.

Numbers in the NANP fictional range `555-0100`..`555-0199` pick a persona by their last two
digits, with or without an area code: `+15550104` and `+12125550104` both reach "interested".

| Digits | Persona                     | Says (one line per agent turn)                           |
|--------|-----------------------------|----------------------------------------------------------|
| 00     | `no-answer`                 | rings until `Timeout`, ends `no-answer`                  |
| 01     | `busy`                      | ends `busy` after ~1.5 s, never rings                    |
| 02     | `failed`                    | ends `failed` after ~0.5 s                               |
| 03     | `voicemail`                 | answers after ~12 s: greeting + beep; AMD says           |
|        |                             | `machine_start` / `machine_end_beep`; logs the message   |
| 04     | `interested`                | "Hello?" / "Yes, that sounds great, sign me up."         |
| 05     | `objection-then-interested` | "Hello?" / "We already have a provider." /               |
|        |                             | "Okay, that makes sense. Yes, let's do it."              |
| 06     | `not-interested`            | "Hello?" / "No thanks, I'm not interested."              |
| 07     | `callback-request`          | "Hello?" / "I'm busy right now, can you call me back     |
|        |                             | tomorrow at 3?"                                          |
| 08     | `remove-me`                 | "Hello?" / "Please take me off your list and stop        |
|        |                             | calling me."                                             |
| 09     | `hangs-up`                  | "Hello?" / "Sorry, who is this?", then hangs up 1 s into |
|        |                             | the agent's next utterance                               |
| 10     | `silent`                    | answers, never says a word (AMD: `unknown`)              |
| 11     | `barge-in`                  | "Hello?" / "Yes, speaking." / 1 s into the agent's next  |
|        |                             | utterance: "Sorry to interrupt, how much does it cost?"  |
|        |                             | / "Okay, sign me up."                                    |
| 12     | `opt-out-hangs-up`          | "Hello?" / "Take me off your list." and hangs up with    |
|        |                             | the last word (no pause: the agent never hears it end)   |
| 13     | `backchanneler`             | "Hello?" / over the agent's next utterance, 1 s in:      |
|        |                             | "Uh-huh.", 1 s of agent speech later: "Right." (logged   |
|        |                             | as `backchanneled`) / "Yes, that sounds great, sign me   |
|        |                             | up."                                                     |
| 14     | `pauser`                    | "Hello?" / "My number is five five five," ~0.8 s of      |
|        |                             | silence (logged `paused` / `resumed`) "one two three     |
|        |                             | four." / "Yes, sign me up."                              |
| 15     | `talks-over-opening`        | "Hello?" / 1 s into the agent's opening: "Sorry to       |
|        |                             | interrupt, how much does it cost?" / "Okay, sign me up." |
| 16     | `hangs-up-early`            | "Hello?", then hangs up 2 s into the agent's first       |
|        |                             | utterance (the opening, or a disclosure right after it)  |
| 17     | `presses-1`                 | "Hello?" / presses 1 (a `dtmf` message) when the agent's |
|        |                             | first turn ends (its keypad prompt) / then listens       |
| 18     | `transfer-target`           | a person a call is transferred to (`<Dial>`): answers   |
|        |                             | after ~2 s, says its greeting to the caller, hangs up;   |
|        |                             | called on a leg of its own (warm: Calls API), it first   |
|        |                             | listens to its TwiML (the briefing), then says the       |
|        |                             | greeting (the caller hears it through the conference),   |
|        |                             | and hangs up 1 s later                                   |
| 19     | `transfer-no-answer`        | a transfer target that never answers (rings until the   |
|        |                             | `<Dial timeout>`)                                        |
| 20     | `two-level-menu`            | a phone menu: "Thank you for calling Northwind." /       |
|        |                             | "For sales, press 1." "For accounts, press 2." "For the  |
|        |                             | operator, press 0." (repeats); 2 → "For your balance,    |
|        |                             | press 1." "To speak to someone in accounts, press 2."    |
|        |                             | (repeats); 2 → "Please hold…", 1 s, a person: "Accounts, |
|        |                             | this is Sam speaking. How can I help?" / "Yes, go on."   |
|        |                             | 1 and 0 at the first level reach sales / the operator    |
| 21     | `endless-menu`              | a phone menu with no person behind it: "For opening      |
|        |                             | hours, press 1." "For our address, press 2." forever     |
| 22     | `accepts-transfer-callback` | "Hello?" / "Yes, that sounds great, sign me up." / back  |
|        |                             | on a new stream after a transfer nobody took, answers   |
|        |                             | the agent's offer: "Yes please, call me back tomorrow at |
|        |                             | 3."                                                      |
| 23-99  | as 00-09 by the last digit  | `+15550134` is `interested`: many numbers per persona    |
| other  | `generic-human`             | "Hello?" then quiet                                      |

Answering personas pick up ~4 s after ringing starts (all ring, AMD and callback delays are
multiplied by the simulator's `time_scale`; audio always runs in real time).

Turn-taking is by listening, not by timers: after its opening "Hello?", a persona says its next
line only once it has heard agent audio (non-silent frames played to it) since it last finished
talking, followed by 600 ms of silence (stream time).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol


class Callee(Protocol):
    """What a persona script can do on the line (implemented in `callee.py`)."""

    async def say(self, text: str) -> None: ...
    async def pause(self, seconds: float) -> None: ...
    async def wait_for_agent_turn(self) -> None: ...
    async def wait_for_agent_speech(self, seconds: float) -> None: ...
    async def beep(self) -> None: ...
    async def press(self, digit: str) -> None: ...
    async def wait_for_digit(self, seconds: float, *, since: int) -> str | None: ...
    async def wait_for_stream(self, number: int) -> None: ...
    @property
    def heard_digits(self) -> str: ...
    def note(self, action: str, **fields: object) -> None: ...
    def hang_up(self) -> None: ...


Script = Callable[[Callee], Awaitable[None]]

ANSWER = "answer"
BUSY = "busy"
FAILED = "failed"
NO_ANSWER = "no-answer"

HUMAN = "human"
MACHINE = "machine"
SILENT = "silent"

HELLO = "Hello?"
OPT_OUT_AND_GO = "Take me off your list."
SIGN_ME_UP = "Yes, that sounds great, sign me up."
BACKCHANNELS = ("Uh-huh.", "Right.")
# One sentence said in two halves around a pause, the way people read out a number. The comma
# keeps Piper's intonation "more to come" on the first half.
NUMBER_HALVES = ("My number is five five five,", "one two three four.")
# Stream time between the halves. Piper ends a line with ~0.25 s of silence and starts the next
# after ~0.06 s, so the caller is silent for ~0.8 s in all: inside the 400-900 ms range of
# mid-sentence pauses issue 14 asks turn detection to sit through.
NUMBER_PAUSE_SECONDS = 0.5
TRANSFER_GREETING = "Hi, this is Sam from the sales team. How can I help?"
CALLBACK_TOMORROW_AT_3 = "Yes please, call me back tomorrow at 3."
INTERRUPTION = "Sorry to interrupt, how much does it cost?"
VOICEMAIL_GREETING = (
    "Hi, you've reached Sam. I can't take your call right now. "
    "Please leave a message after the tone."
)


@dataclass(frozen=True)
class Persona:
    key: str
    outcome: str
    answerer: str = HUMAN
    lines: tuple[str, ...] = ()
    script: Script | None = None
    # Seconds of ringing before the outcome, at time_scale 1.0.
    ring_seconds: float = 4.0


async def _pick_up(callee: Callee) -> None:
    # People take a moment after lifting the handset before they speak.
    await callee.pause(0.3)
    await callee.say(HELLO)


def _conversation(*replies: str) -> Script:
    """Say hello, then answer each agent turn with the next reply, then stay on the line."""

    async def script(callee: Callee) -> None:
        await _pick_up(callee)
        for reply in replies:
            await callee.wait_for_agent_turn()
            await callee.say(reply)

    return script


async def _transfer_target(callee: Callee) -> None:
    # Called on a leg of its own (a warm transfer): the briefing plays first, then the
    # caller is on the line (the conference).
    await callee.wait_for_agent_turn()
    await callee.say(TRANSFER_GREETING)
    await callee.pause(1.0)
    callee.hang_up()


async def _accepts_transfer_callback(callee: Callee) -> None:
    await _pick_up(callee)
    await callee.wait_for_agent_turn()
    await callee.say(SIGN_ME_UP)
    # On hold, then nobody: back with the agent on the call's second stream.
    await callee.wait_for_stream(2)
    await callee.wait_for_agent_turn()
    await callee.say(CALLBACK_TOMORROW_AT_3)


async def _voicemail(callee: Callee) -> None:
    await callee.pause(0.3)
    await callee.say(VOICEMAIL_GREETING)
    await callee.beep()


async def _hangs_up(callee: Callee) -> None:
    await _pick_up(callee)
    await callee.wait_for_agent_turn()
    await callee.say("Sorry, who is this?")
    await callee.wait_for_agent_speech(1.0)
    callee.hang_up()


async def _hangs_up_early(callee: Callee) -> None:
    await _pick_up(callee)
    # Into the agent's first utterance; with a recording disclosure after a short opening, in
    # the middle of the disclosure.
    await callee.wait_for_agent_speech(2.0)
    callee.hang_up()


async def _barge_in(callee: Callee) -> None:
    await _pick_up(callee)
    await callee.wait_for_agent_turn()
    await callee.say("Yes, speaking.")
    await callee.wait_for_agent_speech(1.0)
    callee.note("barged_in")
    await callee.say(INTERRUPTION)
    await callee.wait_for_agent_turn()
    await callee.say("Okay, sign me up.")


async def _backchannels(callee: Callee) -> None:
    await _pick_up(callee)
    # Into the agent's next utterance (it has not started yet: the hello was ours), listening.
    first, second = BACKCHANNELS
    await callee.wait_for_agent_speech(1.0)
    callee.note("backchanneled", text=first)
    await callee.say(first)
    await callee.wait_for_agent_speech(1.0)
    callee.note("backchanneled", text=second)
    await callee.say(second)
    # The agent was never meant to stop: its turn ends when it has finished the line.
    await callee.wait_for_agent_turn()
    await callee.say(SIGN_ME_UP)


async def _pauses_mid_sentence(callee: Callee) -> None:
    await _pick_up(callee)
    await callee.wait_for_agent_turn()
    first, second = NUMBER_HALVES
    await callee.say(first)
    callee.note("paused")
    await callee.pause(NUMBER_PAUSE_SECONDS)
    callee.note("resumed")
    # Whatever the agent did in the pause, a person reading out a number goes on.
    await callee.say(second)
    await callee.wait_for_agent_turn()
    await callee.say("Yes, sign me up.")


async def _talks_over_the_opening(callee: Callee) -> None:
    await _pick_up(callee)
    await callee.wait_for_agent_speech(1.0)
    callee.note("talked_over")
    await callee.say(INTERRUPTION)
    await callee.wait_for_agent_turn()
    await callee.say("Okay, sign me up.")


async def _presses_one(callee: Callee) -> None:
    await _pick_up(callee)
    # The agent's opening ends with its keypad prompt ("press 1 to ..."): the persona answers
    # it with the key, not words. It cannot understand speech, so it presses at that moment.
    await callee.wait_for_agent_turn()
    await callee.press("1")
    await callee.wait_for_agent_turn()


async def _opts_out_and_hangs_up(callee: Callee) -> None:
    await _pick_up(callee)
    await callee.wait_for_agent_turn()
    await callee.say(OPT_OUT_AND_GO)
    callee.hang_up()  # with the last word: no trailing silence reaches the agent


# Phone menus (issue 16 item 3): recordings that read options and route by the key the agent
# presses (in-band tones the persona hears, `heard_digit`). A key pressed during a prompt is
# acted on once that prompt ends, as most menus do.
MENU_WELCOME = "Thank you for calling Northwind."
MENU_LEVEL_1 = ("For sales, press 1.", "For accounts, press 2.", "For the operator, press 0.")
MENU_LEVEL_2 = ("For your balance, press 1.", "To speak to someone in accounts, press 2.")
MENU_HOLD = "Please hold while we connect you."
MENU_BALANCE = "Your balance is zero dollars."
MENU_INVALID = "Sorry, that is not a valid option."
MENU_PEOPLE = {
    "sales": "Sales, this is Alex speaking. How can I help?",
    "operator": "Operator, this is Jo speaking. How can I help?",
    "accounts": "Accounts, this is Sam speaking. How can I help?",
}
LIBRARY_WELCOME = "Thank you for calling the city library."
LIBRARY_MENU = ("For opening hours, press 1.", "For our address, press 2.")
LIBRARY_ANSWERS = {"1": "We are open from nine to five.", "2": "We are at one Main Street."}
# Stream time between two prompts, and after the last one before the menu repeats.
MENU_GAP_SECONDS = 0.8
MENU_REPEAT_SECONDS = 2.0
MENU_HOLD_SECONDS = 1.0


async def _read_menu(callee: Callee, level: int, prompts: tuple[str, ...]) -> str:
    """Read the prompts (again and again) until the agent presses a key; returns it."""
    since = len(callee.heard_digits)
    callee.note("menu", level=level)
    while True:
        for prompt in prompts:
            await callee.say(prompt)
            key = await callee.wait_for_digit(MENU_GAP_SECONDS, since=since)
            if key is not None:
                callee.note("menu_key", level=level, digit=key)
                return key
        key = await callee.wait_for_digit(MENU_REPEAT_SECONDS, since=since)
        if key is not None:
            callee.note("menu_key", level=level, digit=key)
            return key
        callee.note("menu_repeated", level=level)


async def _menu_person(callee: Callee, who: str) -> None:
    callee.note("person_answered", who=who)
    await callee.say(MENU_PEOPLE[who])
    await callee.wait_for_agent_turn()
    await callee.say("Yes, go on.")


async def _two_level_menu(callee: Callee) -> None:
    await callee.pause(0.3)
    await callee.say(MENU_WELCOME)
    await callee.pause(MENU_GAP_SECONDS)
    while True:
        key = await _read_menu(callee, 1, MENU_LEVEL_1)
        if key in ("0", "1"):
            await _menu_person(callee, "operator" if key == "0" else "sales")
            return
        if key == "2":
            break
        await callee.say(MENU_INVALID)
    while True:
        key = await _read_menu(callee, 2, MENU_LEVEL_2)
        if key == "2":
            await callee.say(MENU_HOLD)
            await callee.pause(MENU_HOLD_SECONDS)
            await _menu_person(callee, "accounts")
            return
        await callee.say(MENU_BALANCE if key == "1" else MENU_INVALID)


async def _endless_menu(callee: Callee) -> None:
    await callee.pause(0.3)
    await callee.say(LIBRARY_WELCOME)
    await callee.pause(MENU_GAP_SECONDS)
    while True:
        key = await _read_menu(callee, 1, LIBRARY_MENU)
        await callee.say(LIBRARY_ANSWERS.get(key, MENU_INVALID))


def _human(key: str, *replies: str) -> Persona:
    return Persona(key=key, outcome=ANSWER, lines=(HELLO, *replies), script=_conversation(*replies))


PERSONAS: dict[int, Persona] = {
    0: Persona(key="no-answer", outcome=NO_ANSWER),
    1: Persona(key="busy", outcome=BUSY, ring_seconds=1.5),
    2: Persona(key="failed", outcome=FAILED, ring_seconds=0.5),
    3: Persona(
        key="voicemail",
        outcome=ANSWER,
        answerer=MACHINE,
        lines=(VOICEMAIL_GREETING,),
        script=_voicemail,
        # Voicemail picks up late; Twilio's advice of Timeout >= 15 s still reaches it.
        ring_seconds=12.0,
    ),
    4: _human("interested", SIGN_ME_UP),
    5: _human(
        "objection-then-interested",
        "We already have a provider.",
        "Okay, that makes sense. Yes, let's do it.",
    ),
    6: _human("not-interested", "No thanks, I'm not interested."),
    7: _human("callback-request", "I'm busy right now, can you call me back tomorrow at 3?"),
    8: _human("remove-me", "Please take me off your list and stop calling me."),
    9: Persona(
        key="hangs-up", outcome=ANSWER, lines=(HELLO, "Sorry, who is this?"), script=_hangs_up
    ),
    10: Persona(key="silent", outcome=ANSWER, answerer=SILENT),
    11: Persona(
        key="barge-in",
        outcome=ANSWER,
        lines=(
            HELLO,
            "Yes, speaking.",
            INTERRUPTION,
            "Okay, sign me up.",
        ),
        script=_barge_in,
    ),
    12: Persona(
        key="opt-out-hangs-up",
        outcome=ANSWER,
        lines=(HELLO, OPT_OUT_AND_GO),
        script=_opts_out_and_hangs_up,
    ),
    13: Persona(
        key="backchanneler",
        outcome=ANSWER,
        lines=(HELLO, *BACKCHANNELS, SIGN_ME_UP),
        script=_backchannels,
    ),
    14: Persona(
        key="pauser",
        outcome=ANSWER,
        lines=(HELLO, *NUMBER_HALVES, "Yes, sign me up."),
        script=_pauses_mid_sentence,
    ),
    15: Persona(
        key="talks-over-opening",
        outcome=ANSWER,
        lines=(HELLO, INTERRUPTION, "Okay, sign me up."),
        script=_talks_over_the_opening,
    ),
    16: Persona(key="hangs-up-early", outcome=ANSWER, lines=(HELLO,), script=_hangs_up_early),
    17: Persona(key="presses-1", outcome=ANSWER, lines=(HELLO,), script=_presses_one),
    20: Persona(
        key="two-level-menu",
        outcome=ANSWER,
        lines=(
            MENU_WELCOME,
            *MENU_LEVEL_1,
            *MENU_LEVEL_2,
            MENU_HOLD,
            MENU_BALANCE,
            MENU_INVALID,
            *MENU_PEOPLE.values(),
            "Yes, go on.",
        ),
        script=_two_level_menu,
    ),
    21: Persona(
        key="endless-menu",
        outcome=ANSWER,
        lines=(LIBRARY_WELCOME, *LIBRARY_MENU, *LIBRARY_ANSWERS.values(), MENU_INVALID),
        script=_endless_menu,
    ),
    # Transfer targets (`<Dial>`): their lines are spoken to the caller once they answer.
    18: Persona(
        key="transfer-target",
        outcome=ANSWER,
        lines=(TRANSFER_GREETING,),
        script=_transfer_target,
        ring_seconds=2.0,
    ),
    19: Persona(key="transfer-no-answer", outcome=NO_ANSWER),
    22: Persona(
        key="accepts-transfer-callback",
        outcome=ANSWER,
        lines=(HELLO, SIGN_ME_UP, CALLBACK_TOMORROW_AT_3),
        script=_accepts_transfer_callback,
    ),
}

GENERIC_HUMAN = Persona(key="generic-human", outcome=ANSWER, lines=(HELLO,), script=_pick_up)

_FICTIONAL = re.compile(r"^\+1(?:\d{3})?55501(\d\d)$")


def persona_for(number: str) -> Persona:
    """The persona that answers `number` (see the module docstring for the table)."""
    match = _FICTIONAL.match(number)
    if match is None:
        return GENERIC_HUMAN
    suffix = int(match.group(1))
    return PERSONAS.get(suffix) or PERSONAS[suffix % 10]
