"""One bounded, prioritised executor for every CPU-bound speech model in the process.

Whisper (CTranslate2), Piper and Smart Turn (ONNX Runtime) each default to one thread per core
per call, and `asyncio.to_thread` queues on an executor with no notion of urgency. With five
calls on two cores that meant ten-plus busy threads fighting over two cores, and the final of a
finished utterance waiting behind a speculative recognition someone else's call may throw away
(issue 14: finals 5-7 s late, a TTS first-audio timeout that hung up on a caller).

So model work goes through `run_inference`: `inference_workers()` threads (one per usable core
by default), each job's model limited to `model_threads()` intra-op threads, so workers x
threads never exceeds the cores; the queue is ordered by `Priority`, then arrival. A job whose
awaiting caller was cancelled before a worker picked it up is dropped, never run. A job already
running cannot be interrupted (neither library can stop mid-inference): its result is dropped.

Django-free on purpose: `sessions.pipeline` (a pure core) calls it. The two sizes are read from
the same environment variables that `anvil_voice/settings.py` declares (and validates at
start-up), through the same strict `Env` parser.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import heapq
import itertools
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from anvil_voice import usage
from anvil_voice.env import Env
from anvil_voice.process_singleton import ProcessSingleton


class Priority(IntEnum):
    """Lower runs first. FIFO within a priority.

    Shortest first among what a caller is waiting for: the first sentence of a reply (~0.2 s
    of Piper) goes before a final (~0.4-1 s of Whisper). With both at one level, at 3-5 calls
    a reply's first audio waited behind other calls' finals and came 1.2-2.9x later than with
    no executor at all (docs/benchmarks.md); the call whose audio it is has its final already.
    """

    FIRST_AUDIO = 0  # the first sentence of a reply
    FINAL = 1  # the final of a finished utterance
    # Recognition at a pause: most often it *is* the final (the turn ended there), now and
    # then thrown away (the caller went on), so after finals, before work with slack.
    SPECULATIVE = 2
    NORMAL = 3  # later sentences (one plays while the next is made); end-of-turn model
    BACKGROUND = 4  # previews, cache warming, batch work

    @property
    def urgent(self) -> bool:
        """May run on the worker kept for what a caller waits on right now."""
        return self <= Priority.FINAL


# The priority of speech work done on behalf of the current task when the caller cannot pass
# one: a voice provider's `stream_synthesize` does not know whether its text is the first
# sentence of a reply; the pipeline does, and says so here (`sessions.pipeline.speaking`).
synthesis_priority: contextvars.ContextVar[Priority] = contextvars.ContextVar(
    "synthesis_priority", default=Priority.FIRST_AUDIO
)


def usable_cores() -> int:
    """Cores this process may run on (a container's CPU set, not the host's core count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True, slots=True)
class InferenceSizes:
    workers: int
    model_threads: int


def inference_sizes(
    environ: Mapping[str, str] | None = None, *, cores: int | None = None
) -> InferenceSizes:
    """Workers and per-job model threads from `SPEECH_INFERENCE_WORKERS` /
    `SPEECH_MODEL_THREADS` (0 or unset: derived from the usable cores)."""
    env = Env(environ)
    cores = usable_cores() if cores is None else cores
    workers = env.get_int("SPEECH_INFERENCE_WORKERS", 0, minimum=0) or cores
    threads = env.get_int("SPEECH_MODEL_THREADS", 0, minimum=0) or max(1, cores // workers)
    return InferenceSizes(workers=workers, model_threads=threads)


@functools.cache
def _sizes() -> InferenceSizes:
    return inference_sizes()


def inference_workers() -> int:
    """How many model jobs run at once in this process."""
    return _sizes().workers


def model_threads() -> int:
    """Intra-op threads each model may use for one job (set when the model is loaded)."""
    return _sizes().model_threads


@dataclass(eq=False, slots=True)
class _Job:
    call: Callable[[], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    # Guarded by the executor's lock, so a worker either skips the job or runs it whole.
    cancelled: bool = False


@dataclass(eq=False)
class InferenceExecutor:
    """`workers` daemon threads taking jobs from a priority heap.

    A running job cannot be preempted, so an urgent job arriving while every worker runs a
    speculative recognition would wait up to a whole recognition. `reserved_for_urgent` workers
    (default: one, when there are two or more) therefore never start anything but urgent work:
    the final of an utterance or a reply's first audio always finds a worker unless other
    urgent work holds them all. The rest still run in priority order.

    Daemon threads: a process exiting mid-inference must not wait for a model to finish.
    """

    workers: int
    name: str = "speech-inference"
    reserved_for_urgent: int | None = None
    _running_below_urgent: int = field(default=0, init=False)
    _heap: list[tuple[int, int, _Job | None]] = field(default_factory=list, init=False)
    _ready: threading.Condition = field(default_factory=threading.Condition, init=False)
    _serial: itertools.count[int] = field(default_factory=itertools.count, init=False)
    _threads: list[threading.Thread] = field(default_factory=list, init=False)
    _closed: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError("an inference executor needs at least one worker")
        if self.reserved_for_urgent is None:
            self.reserved_for_urgent = 1 if self.workers >= 2 else 0
        if not 0 <= self.reserved_for_urgent < self.workers:
            raise ValueError("reserved_for_urgent must leave at least one worker for the rest")
        for number in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"{self.name}-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    async def run[T](
        self, fn: Callable[..., T], /, *args: Any, priority: Priority, **kwargs: Any
    ) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        # Like `asyncio.to_thread`: the job sees the caller's context variables (log fields).
        context = contextvars.copy_context()
        # `metered`: the job's CPU time is charged to the call in that context (`usage`).
        job = _Job(
            call=functools.partial(context.run, usage.metered, fn, *args, **kwargs),
            loop=loop,
            future=future,
        )
        with self._ready:
            if self._closed:
                raise RuntimeError("the inference executor is shut down")
            heapq.heappush(self._heap, (int(priority), next(self._serial), job))
            self._ready.notify()
        try:
            return await future
        except asyncio.CancelledError:
            with self._ready:
                job.cancelled = True  # a worker that has not started it will skip it
            raise

    @property
    def queued(self) -> int:
        """Jobs waiting for a worker (a measure of how far behind the models are)."""
        with self._ready:
            return sum(1 for _, _, job in self._heap if job is not None and not job.cancelled)

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop the workers once the jobs already queued have run (tests; the process-wide
        executor lives as long as the process)."""
        with self._ready:
            self._closed = True
            for _ in self._threads:
                # After every real job, whatever its priority.
                heapq.heappush(self._heap, (len(Priority), next(self._serial), None))
            self._ready.notify_all()
        if wait:
            for thread in self._threads:
                thread.join()

    def _work(self) -> None:
        while True:
            with self._ready:
                while (popped := self._next_job()) is None:
                    self._ready.wait()
                job, urgent = popped
                if job is None:
                    return
                if not urgent:
                    self._running_below_urgent += 1
            try:
                result = job.call()
            except BaseException as error:  # handed to the awaiter, never lost
                if isinstance(error, StopIteration):  # a Future refuses it (as to_thread's does)
                    error = RuntimeError("inference job raised StopIteration")
                self._settle(job, _fail, error)
            else:
                self._settle(job, _succeed, result)
            finally:
                if not urgent:
                    with self._ready:
                        self._running_below_urgent -= 1
                        self._ready.notify_all()  # a worker held back by the reserve may start

    def _next_job(self) -> tuple[_Job | None, bool] | None:
        """The job this worker may start now (None: the shutdown marker), or None to wait.
        Called with the lock held."""
        while self._heap:
            priority, _serial, job = self._heap[0]
            if job is not None and job.cancelled:
                heapq.heappop(self._heap)  # its caller gave up before it started: never run it
                continue
            urgent = priority <= Priority.FINAL  # (the stop marker ranks below every level)
            shared = self.workers - (self.reserved_for_urgent or 0)
            if job is not None and not urgent and self._running_below_urgent >= shared:
                return None  # only the reserve is free, and this job is not urgent
            heapq.heappop(self._heap)
            return job, urgent
        return None

    @staticmethod
    def _settle(job: _Job, settle: Callable[[asyncio.Future[Any], Any], None], value: Any) -> None:
        # A closed loop (RuntimeError) means nobody is waiting for the answer any more.
        with contextlib.suppress(RuntimeError):
            job.loop.call_soon_threadsafe(settle, job.future, value)


def _succeed(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():  # cancelled while it ran
        future.set_result(result)


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


_executor = ProcessSingleton(lambda: InferenceExecutor(workers=inference_workers()))


def _shared_executor() -> InferenceExecutor:
    return _executor.get()


async def run_inference[T](
    fn: Callable[..., T], /, *args: Any, priority: Priority = Priority.NORMAL, **kwargs: Any
) -> T:
    """`fn(*args, **kwargs)` on the process's inference executor, at `priority`.

    Use it from any event loop (a Channels consumer, a test's own loop): the answer is handed
    back to the loop that asked. Exceptions from `fn` are raised here. (Typed `...` for the
    arguments: a ParamSpec allows no keyword-only `priority` between its args and kwargs.)
    """
    return await _shared_executor().run(fn, *args, priority=priority, **kwargs)
