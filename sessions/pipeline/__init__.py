"""The per-call speech pipeline: Twilio Media Stream frames in, agent audio frames out.

Independent of Django requests and of the websocket transport: the consumer owns the socket
and the database and wires them in through two callables and a sink::

    pipeline = CallPipeline(
        agent=ScriptedAgent(script, context),
        voice=get_voice_provider(), voice_id=voice.provider_voice_id,
        recognizer=get_streaming_stt(),               # anvil_voice.speech: Whisper or Deepgram
        send=self.send_json,                          # async (message: dict) -> None
        hang_up=hang_up_through_carrier,              # async () -> None
        sink=DatabaseSink(session),                   # on_turn / on_event / on_end
    )
    pipeline.start(stream_sid)        # on "start"
    pipeline.feed_media(payload)      # on "media" (base64 str as received)
    pipeline.on_mark(name)            # on "mark"
    pipeline.on_dtmf(digit)           # on "dtmf"
    pipeline.on_stop()                # on "stop"
    await pipeline.close()            # on disconnect, always

Modules: `turn_detection` (the `TurnDetector` protocol, the barge-in policy, the energy
baseline), `neural_turn` (Silero VAD + Smart Turn v3.2 on ONNX Runtime), `vad` (energy
endpointer), `tts_stream` (provider → 20 ms frames), `pacer` (real-time
pacing, marks, what was heard), `turns` (data shapes and the sink protocol), `config`, `clock`,
`pipeline` (`CallPipeline`). The recognisers (batch Whisper, Deepgram streaming) are speech
providers: `anvil_voice.speech`, behind `anvil_voice.speech.protocols.StreamingRecognizer`,
built by `registry.get_streaming_stt()`. Its benchmark lives outside the product:
`python -m benchmarks.pipeline`.
"""

from anvil_voice.speech.protocols import (
    Final,
    Interim,
    RecognizerFailure,
    StreamingRecognizer,
)
from sessions.pipeline.clock import Clock, LoopClock, ManualClock
from sessions.pipeline.config import PipelineConfig
from sessions.pipeline.pipeline import CallPipeline, HangUp, Send
from sessions.pipeline.turns import (
    CallEndReason,
    MemorySink,
    PipelineEvent,
    PipelineEventKind,
    PipelineResult,
    PipelineSink,
    PipelineStats,
    Speaker,
    Turn,
)
from sessions.pipeline.vad import Endpointer, VadConfig

__all__ = [
    "CallEndReason",
    "CallPipeline",
    "Clock",
    "Endpointer",
    "Final",
    "HangUp",
    "Interim",
    "LoopClock",
    "ManualClock",
    "MemorySink",
    "PipelineConfig",
    "PipelineEvent",
    "PipelineEventKind",
    "PipelineResult",
    "PipelineSink",
    "PipelineStats",
    "RecognizerFailure",
    "Send",
    "Speaker",
    "StreamingRecognizer",
    "Turn",
    "VadConfig",
]
