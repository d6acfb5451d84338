"""ONNX Runtime sessions sized for a shared box (Piper here, Silero and Smart Turn in the pipeline).

ONNX Runtime's default is an intra-op pool of one thread per core, per session, spinning while
it waits for work: five calls each synthesising on two cores ran ten-plus busy threads. A session
made here uses `threads` intra-op threads (`inference.model_threads()` for models run on the
inference executor, whose worker count times that fits the cores), one inter-op thread (the
graphs are sequential), and no spin-waiting, so an idle pool leaves its core to the next job.
"""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort


def cpu_session(model: str | Path, *, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads > 1:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(
        str(model), sess_options=options, providers=["CPUExecutionProvider"]
    )
