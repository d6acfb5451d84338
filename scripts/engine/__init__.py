"""The conversation engine: pure Python, no Django, so it runs in consumers, tasks and tests.

Modules, in dependency order:
    placeholders  {{name|default}} parsing, validation and rendering
    normalize     transcript clean-up, stemming, spelling snap
    paraphrases   synonym table and objection paraphrase families
    matching      objection trigger matching (score + threshold)
    timeparse     callback time extraction in the contact's zone; describe_time for speech
    intents       opt-out / callback / agreement / refusal / asks_if_ai / asks_who / greeting /
                  question / other
    tools         the built-in tool registry, a script's tools, running one call (filler,
                  timeout, argument checks) behind the ToolRunner protocol
    types         ScriptSpec, CallContext, Outcome, EngineEvent, actions, AgentPhrases
    agent         the Agent protocol both agents implement; speakable_chunks for TTS
    scripted      ScriptedAgent (deterministic)
    llm           LLMAgent (OpenAI-compatible, streaming, tools)
"""

from scripts.engine.agent import (
    Agent,
    HearsKeys,
    KnowsItsLines,
    speakable_chunks,
    split_speakable,
)
from scripts.engine.conversation import AgentFinishedError, contact_stance
from scripts.engine.intents import Intent, IntentResult, detect_intent
from scripts.engine.llm import LLMAgent, LLMConfig
from scripts.engine.llm_stream import AgentError, AgentErrorKind, Timeouts
from scripts.engine.matching import TriggerMatch, TriggerMatcher, best_match
from scripts.engine.placeholders import (
    PlaceholderError,
    find_placeholders,
    render,
    validate_placeholders,
)
from scripts.engine.scripted import ScriptedAgent
from scripts.engine.timeparse import describe_time, parse_callback_time
from scripts.engine.transfer_return import TransferReturnAgent
from scripts.engine.types import (
    AgentAction,
    AgentPhrases,
    CallContext,
    EndCall,
    EndReason,
    EngineEvent,
    EventKind,
    KeypadAction,
    KeypadEntry,
    KeypadKey,
    MarkDoNotCall,
    ObjectionResponse,
    Outcome,
    ScheduleCallback,
    ScriptSpec,
    Stance,
    TransferCall,
    TransferMode,
    TransferReason,
    TransferSpec,
    TransferTargetKind,
)

__all__ = [
    "Agent",
    "AgentAction",
    "AgentError",
    "AgentErrorKind",
    "AgentFinishedError",
    "AgentPhrases",
    "CallContext",
    "EndCall",
    "EndReason",
    "EngineEvent",
    "EventKind",
    "HearsKeys",
    "Intent",
    "IntentResult",
    "KeypadAction",
    "KeypadEntry",
    "KeypadKey",
    "KnowsItsLines",
    "LLMAgent",
    "LLMConfig",
    "MarkDoNotCall",
    "ObjectionResponse",
    "Outcome",
    "PlaceholderError",
    "ScheduleCallback",
    "ScriptSpec",
    "ScriptedAgent",
    "Stance",
    "Timeouts",
    "TransferCall",
    "TransferMode",
    "TransferReason",
    "TransferReturnAgent",
    "TransferSpec",
    "TransferTargetKind",
    "TriggerMatch",
    "TriggerMatcher",
    "best_match",
    "contact_stance",
    "describe_time",
    "detect_intent",
    "find_placeholders",
    "parse_callback_time",
    "render",
    "speakable_chunks",
    "split_speakable",
    "validate_placeholders",
]
