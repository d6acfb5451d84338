"""The shared speech executor: bounded, prioritised, cancellable, usable from any event loop.

No timing assertions: every wait is on an Event or a condition, with a generous limit (CI shares
two cores with other work).
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Iterator

import pytest

from anvil_voice.env import EnvError
from anvil_voice.speech.inference import (
    InferenceExecutor,
    InferenceSizes,
    Priority,
    inference_sizes,
    inference_workers,
    model_threads,
    run_inference,
)

LIMIT = 30.0  # seconds; only ever reached when something is broken


@pytest.fixture
def one_worker() -> Iterator[InferenceExecutor]:
    executor = InferenceExecutor(workers=1, name="test-inference")
    yield executor
    executor.shutdown()


class Gate:
    """A job that says it started, then holds its worker until released."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self) -> str:
        self.started.set()
        assert self.release.wait(LIMIT), "the test never released the gate"
        return "gate"


async def wait_started(gate: Gate) -> None:
    assert await asyncio.to_thread(gate.started.wait, LIMIT)


async def until(predicate, what: str) -> None:
    for _ in range(int(LIMIT / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)  # polling a condition, never a timing assertion
    raise AssertionError(f"timed out waiting until {what}")


async def test_it_runs_the_most_urgent_job_first_and_fifo_within_a_priority(one_worker):
    gate = Gate()
    started: list[str] = []
    blocker = asyncio.create_task(one_worker.run(gate, priority=Priority.FINAL))
    await wait_started(gate)

    queued = [
        ("background", Priority.BACKGROUND),
        ("speculative-1", Priority.SPECULATIVE),
        ("normal-1", Priority.NORMAL),
        ("final-1", Priority.FINAL),
        ("speculative-2", Priority.SPECULATIVE),
        ("first-audio", Priority.FIRST_AUDIO),
        ("final-2", Priority.FINAL),
        ("normal-2", Priority.NORMAL),
    ]
    jobs = [
        asyncio.create_task(one_worker.run(started.append, name, priority=priority))
        for name, priority in queued
    ]
    await until(lambda: one_worker.queued == len(queued), "every job is queued")
    gate.release.set()
    await asyncio.wait_for(asyncio.gather(blocker, *jobs), LIMIT)

    assert started == [
        "first-audio",
        "final-1",
        "final-2",
        "speculative-1",
        "speculative-2",
        "normal-1",
        "normal-2",
        "background",
    ]


async def test_it_keeps_a_worker_for_urgent_work():
    executor = InferenceExecutor(workers=2, name="test-inference")  # one kept for URGENT
    speculative, normal = Gate(), Gate()
    try:
        first = asyncio.create_task(executor.run(speculative, priority=Priority.SPECULATIVE))
        await wait_started(speculative)
        second = asyncio.create_task(executor.run(normal, priority=Priority.NORMAL))
        await until(lambda: executor.queued == 1, "the normal job is queued")

        # The second worker is idle, yet it waits for urgent work, and takes it at once.
        urgent = executor.run(str.upper, "final", priority=Priority.FINAL)
        assert await asyncio.wait_for(urgent, LIMIT) == "FINAL"
        assert not normal.started.is_set()

        speculative.release.set()
        await wait_started(normal)
        normal.release.set()
        assert await asyncio.wait_for(asyncio.gather(first, second), LIMIT) == ["gate", "gate"]
    finally:
        speculative.release.set()
        normal.release.set()
        executor.shutdown()


async def test_it_never_runs_a_job_cancelled_before_it_started(one_worker):
    gate = Gate()
    ran: list[str] = []
    blocker = asyncio.create_task(one_worker.run(gate, priority=Priority.FINAL))
    await wait_started(gate)
    doomed = asyncio.create_task(one_worker.run(ran.append, "doomed", priority=Priority.FINAL))
    kept = asyncio.create_task(one_worker.run(ran.append, "kept", priority=Priority.NORMAL))
    await until(lambda: one_worker.queued == 2, "both jobs are queued")

    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    gate.release.set()
    await asyncio.wait_for(asyncio.gather(blocker, kept), LIMIT)

    assert ran == ["kept"]


async def test_a_job_cancelled_while_running_finishes_and_its_result_is_dropped(one_worker):
    gate = Gate()
    running = asyncio.create_task(one_worker.run(gate, priority=Priority.FINAL))
    await wait_started(gate)

    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    gate.release.set()

    # The worker is free again and still answers.
    assert await asyncio.wait_for(one_worker.run(len, "abc", priority=Priority.NORMAL), LIMIT) == 3


async def test_it_raises_the_jobs_exception_in_the_awaiter(one_worker):
    def fails(message: str) -> None:
        raise ValueError(message)

    with pytest.raises(ValueError, match="model broke"):
        await one_worker.run(fails, "model broke", priority=Priority.FINAL)
    with pytest.raises(RuntimeError, match="StopIteration"):
        await one_worker.run(next, iter(()), priority=Priority.NORMAL)
    # The worker survived both.
    assert await one_worker.run(sum, [1, 2], priority=Priority.NORMAL) == 3


async def test_it_passes_arguments_and_the_callers_context(one_worker):
    request = contextvars.ContextVar("request", default="none")
    request.set("call-42")

    def job(a: int, *, b: int) -> tuple[int, str]:
        return a + b, request.get()

    assert await one_worker.run(job, 1, b=2, priority=Priority.NORMAL) == (3, "call-42")


def test_it_answers_event_loops_in_different_threads():
    executor = InferenceExecutor(workers=2, name="test-inference")
    answers: dict[str, tuple[str, str]] = {}

    def call_from_own_loop(name: str) -> None:
        async def ask() -> tuple[str, str]:
            return await executor.run(
                lambda: (name, threading.current_thread().name), priority=Priority.NORMAL
            )

        answers[name] = asyncio.run(asyncio.wait_for(ask(), LIMIT))

    threads = [threading.Thread(target=call_from_own_loop, args=(n,)) for n in ("one", "two")]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(LIMIT)
    finally:
        executor.shutdown()

    assert answers["one"][0] == "one"
    assert answers["two"][0] == "two"
    assert all(worker.startswith("test-inference-") for _, worker in answers.values())


async def test_it_never_runs_more_jobs_at_once_than_it_has_workers():
    workers = 3
    executor = InferenceExecutor(workers=workers, name="test-inference", reserved_for_urgent=0)
    lock = threading.Lock()
    running = 0
    most = 0
    full = threading.Event()
    release = threading.Event()

    def job() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            if running == workers:
                full.set()
        assert release.wait(LIMIT)
        with lock:
            running -= 1

    try:
        jobs = [
            asyncio.create_task(executor.run(job, priority=Priority(i % len(Priority))))
            for i in range(workers * 4)
        ]
        assert await asyncio.to_thread(full.wait, LIMIT)
        await until(lambda: executor.queued == workers * 3, "the rest are queued")
        release.set()
        await asyncio.wait_for(asyncio.gather(*jobs), LIMIT)
    finally:
        executor.shutdown()

    assert most == workers


async def test_the_process_wide_executor_runs_jobs_and_never_blocks_the_loop():
    gate = Gate()
    job = asyncio.create_task(run_inference(gate, priority=Priority.BACKGROUND))
    await wait_started(gate)
    # The loop is free while the job holds a worker.
    assert await asyncio.wait_for(asyncio.sleep(0, result="free"), LIMIT) == "free"
    gate.release.set()

    assert await asyncio.wait_for(job, LIMIT) == "gate"
    assert await run_inference(divmod, 7, 2) == (3, 1)
    assert inference_workers() >= 1
    assert model_threads() >= 1


def test_it_sizes_itself_from_the_cores_unless_told():
    assert inference_sizes({}, cores=2) == InferenceSizes(workers=2, model_threads=1)
    assert inference_sizes({}, cores=8) == InferenceSizes(workers=8, model_threads=1)
    assert inference_sizes({"SPEECH_INFERENCE_WORKERS": "2"}, cores=8) == InferenceSizes(2, 4)
    assert inference_sizes({"SPEECH_INFERENCE_WORKERS": "3"}, cores=2) == InferenceSizes(3, 1)
    both = {"SPEECH_INFERENCE_WORKERS": "1", "SPEECH_MODEL_THREADS": "2"}
    assert inference_sizes(both, cores=8) == InferenceSizes(workers=1, model_threads=2)
    with pytest.raises(EnvError):
        inference_sizes({"SPEECH_INFERENCE_WORKERS": "-1"}, cores=2)
