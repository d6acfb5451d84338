"""`make run`'s process supervisor: keeps the processes running, restarts the restartable ones.

A Celery worker can die from something outside our code (a broker quirk, the OOM killer); on
the embedded default that once took the web server and the simulator down with it, since the
launcher stopped everything when any process exited (issue 15). Now a restartable process that
exits with a failure is started again after a back-off (1 s, 2 s, 4 s, ... up to 30 s), with a
log line, while the others keep running. A process that keeps crashing is a bug to see, not to
hide: after `max_restarts` restarts within a minute the supervisor gives up and the launcher
stops everything, as before. A process that exits with code 0 was asked to stop (or finished);
that also stops everything.

A restartable process runs in its own process group (`start_new_session=True` in its spawner):
Celery's embedded beat is a child process of the worker, and a worker killed outright (OOM)
leaves it running, which after a restart would mean two beats sending every scheduled task
twice. Before a restart the whole group of the dead process is killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping

RESTART_WINDOW_SECONDS = 60.0
DEFAULT_MAX_RESTARTS = 5
DEFAULT_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0

Spawn = Callable[[], "subprocess.Popen[bytes]"]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill what is left of the process group `process` led (its children, orphaned)."""
    # ProcessLookupError: it led no group, or the group is already empty.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


class ProcessSupervisor:
    """Runs one process per entry of `spawners`; `poll()` restarts or says why to stop."""

    def __init__(
        self,
        spawners: Mapping[str, Spawn],
        *,
        restartable: Iterable[str],
        max_restarts: int = DEFAULT_MAX_RESTARTS,
        backoff_seconds: float = DEFAULT_BACKOFF_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        log: Callable[[str], None] = _stderr,
    ) -> None:
        self.spawners = dict(spawners)
        self.restartable = frozenset(restartable)
        self.max_restarts = max_restarts
        self.backoff_seconds = backoff_seconds
        self.clock = clock
        self.log = log
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.restarts: dict[str, int] = dict.fromkeys(self.spawners, 0)
        self._recent: dict[str, deque[float]] = {name: deque() for name in self.spawners}
        self._restart_due: dict[str, float] = {}
        self.stopping = False

    def start(self) -> dict[str, subprocess.Popen[bytes]]:
        self.processes = {name: spawn() for name, spawn in self.spawners.items()}
        return self.processes

    def poll(self) -> str | None:
        """Restart what is due, notice what exited; why everything must stop, else None."""
        if self.stopping:
            return "Asked to stop."
        now = self.clock()
        for name, due in list(self._restart_due.items()):
            if now >= due:
                del self._restart_due[name]
                self.processes[name] = self.spawners[name]()
                self.restarts[name] += 1
                self.log(f"Restarted the {name} (pid {self.processes[name].pid}).")
        for name, process in self.processes.items():
            if name in self._restart_due or (code := process.poll()) is None:
                continue
            if code == 0 or name not in self.restartable:
                return f"The {name} exited with code {code}."
            recent = self._recent[name]
            while recent and now - recent[0] > RESTART_WINDOW_SECONDS:
                recent.popleft()
            if len(recent) >= self.max_restarts:
                return (
                    f"The {name} exited with code {code} after {len(recent)} restarts within "
                    f"{RESTART_WINDOW_SECONDS:.0f} s; giving up."
                )
            _kill_group(process)
            delay = min(self.backoff_seconds * 2 ** len(recent), MAX_BACKOFF_SECONDS)
            recent.append(now)
            self._restart_due[name] = now + delay
            self.log(f"The {name} exited with code {code}; restarting it in {delay:.0f} s.")
        return None

    def run(self, *, interval: float = 0.5) -> str:
        """Poll until something must stop everything; returns why."""
        while (reason := self.poll()) is None:
            time.sleep(interval)
        return reason

    def terminate(self) -> None:
        """Ask every running process to stop and restart none (safe in a signal handler)."""
        self.stopping = True
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()

    def stop(self, *, grace_seconds: float = 10.0) -> None:
        """Terminate every process that still runs, then kill what ignores it."""
        self.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=grace_seconds)
            except subprocess.TimeoutExpired:
                process.kill()
        for name in self.restartable & self.processes.keys():
            _kill_group(self.processes[name])
