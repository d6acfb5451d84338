"""A local Twilio for demos, end-to-end tests and load runs (no Django needed).

`TwilioSimulator` speaks Twilio's REST wire format for Calls (the real `twilio` SDK is pointed
at it with `client.api.base_url = sim.base_url`), dials a callee persona chosen by the number,
sends signed status/AMD/recording callbacks, executes our TwiML (`<Connect><Stream>`, `<Say>`,
`<Play>`, `<Pause>`, `<Hangup/>`) and runs the signed, bidirectional Media Stream in real time.

Module map: `server` (lifecycle, registry, `/_sim` endpoints), `rest` / `rest_params`
(Calls API and its validation), `dispatch` (CPS queue), `runner` (one call's life), `twiml` /
`executor` (TwiML), `media_stream` (websocket client), `call_audio` (20 ms clock, playback,
marks), `personas` / `callee` (who answers and how they talk; the persona table is in
`personas` and PERSONAS.md), `voice` (TTS), `amd`, `callbacks` (signed webhooks), `log` (the
per-call log format), `faults` (test knobs), `cli` (`python -m` and the management command).
"""

from .calls import SimulatedCall
from .faults import Faults
from .personas import PERSONAS, Persona, persona_for
from .server import TwilioSimulator

__all__ = ["PERSONAS", "Faults", "Persona", "SimulatedCall", "TwilioSimulator", "persona_for"]
