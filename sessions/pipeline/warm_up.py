"""What a call is likely to say, as the texts the pipeline will ask its voice for.

A TTS cache (`anvil_voice.speech.cache`) keys on the exact text of each `stream_synthesize`
request, and the pipeline asks sentence by sentence (`speaking.spoken_sentences`): lines
warmed in any other shape would never be found.
"""

from __future__ import annotations

from scripts.engine.agent import Agent, KnowsItsLines
from sessions.pipeline.config import PipelineConfig
from sessions.pipeline.speaking import spoken_sentences


async def call_sentences(agent: Agent, config: PipelineConfig) -> list[str]:
    """Each sentence once, in the order worth making them: the agent's known lines (the
    opening first: it is needed first), then the pipeline's own."""
    lines = agent.known_lines() if isinstance(agent, KnowsItsLines) else []
    lines += [[line] for line in config.fixed_lines()]
    sentences: list[str] = []
    for pieces in lines:
        sentences += await spoken_sentences(pieces)
    return list(dict.fromkeys(sentences))
