"""The agent a caller comes back to when a warm transfer found nobody: it says so, offers a
callback, and ends on the answer (a time, a yes, a no, an opt-out, or nothing clear)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scripts.engine import Agent, KnowsItsLines, TransferReturnAgent
from scripts.engine.transfer_return import (
    ASK_AGAIN,
    CALLBACK_SOON,
    DECLINED,
    NOBODY_AVAILABLE,
    OPTED_OUT,
)
from scripts.engine.types import (
    CallContext,
    EndCall,
    EventKind,
    MarkDoNotCall,
    Outcome,
    ScheduleCallback,
)

# Tuesday 10:00 in New York.
NOW = datetime(2026, 3, 3, 15, tzinfo=UTC)


def agent(reason: str = "agreement") -> TransferReturnAgent:
    context = CallContext(timezone="America/New_York", now=lambda: NOW)
    return TransferReturnAgent(context, reason=reason)


async def say(bot: TransferReturnAgent, heard: str | None) -> str:
    return " ".join([piece async for piece in bot.reply(heard)])


async def test_it_says_nobody_could_take_the_call_and_offers_a_callback():
    bot = agent()
    assert isinstance(bot, Agent)
    assert isinstance(bot, KnowsItsLines)
    opening = " ".join([piece async for piece in bot.opening()])
    assert opening == NOBODY_AVAILABLE
    assert opening.endswith("Would you like us to call you back?")
    assert not bot.finished


async def test_a_time_schedules_the_callback_then():
    bot = agent()
    [_ async for _ in bot.opening()]
    line = await say(bot, "Yes please, call me back tomorrow at 3.")
    assert line == "Of course. We'll call you back tomorrow at 3:00 PM. Goodbye."
    assert bot.outcome is Outcome.CALLBACK_REQUESTED
    [callback, end] = bot.actions
    assert isinstance(callback, ScheduleCallback)
    assert callback.at is not None
    assert callback.at.isoformat() == "2026-03-04T15:00:00-05:00"
    assert end == EndCall(reason="callback_scheduled", outcome=Outcome.CALLBACK_REQUESTED)


async def test_a_yes_without_a_time_leaves_the_time_to_the_campaign():
    bot = agent()
    assert await say(bot, "Yes, please.") == CALLBACK_SOON
    assert bot.actions[0] == ScheduleCallback(at=None)
    assert bot.outcome is Outcome.CALLBACK_REQUESTED


@pytest.mark.parametrize(
    ("reason", "outcome"),
    [
        ("agreement", Outcome.INTERESTED),
        ("request", Outcome.INTERESTED),
        ("objection", Outcome.NOT_INTERESTED),
    ],
)
async def test_a_no_ends_politely_with_what_the_call_had_earned(reason, outcome):
    bot = agent(reason)
    assert await say(bot, "No thanks, that's fine.") == DECLINED
    assert bot.outcome is outcome
    assert bot.actions == [EndCall(reason="callback_declined", outcome=outcome)]


async def test_an_opt_out_is_honoured():
    bot = agent()
    assert await say(bot, "Take me off your list.") == OPTED_OUT
    assert bot.outcome is Outcome.DO_NOT_CALL
    assert isinstance(bot.actions[0], MarkDoNotCall)


async def test_an_unclear_answer_is_asked_again_then_taken_as_a_yes():
    bot = agent()
    assert await say(bot, None) == ASK_AGAIN
    assert not bot.finished
    assert await say(bot, "Hmm, what?") == CALLBACK_SOON
    assert bot.outcome is Outcome.CALLBACK_REQUESTED
    kinds = [event.kind for event in bot.events]
    assert kinds.count(EventKind.CALLBACK_REQUESTED) == 1
    assert kinds[-1] is EventKind.ENDED
