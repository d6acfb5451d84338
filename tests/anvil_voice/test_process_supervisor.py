"""`make run`'s supervisor restarts a crashed worker and keeps the rest up (issue 15, item 12).

Tiny Python commands stand in for the server, the simulator and the worker. Waits poll for a
condition with a generous limit (CI shares two cores); the back-off is zero to keep them short.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from anvil_voice import run_embedded
from anvil_voice.process_supervisor import ProcessSupervisor

LIMIT_SECONDS = 60.0
SLEEP_FOREVER = "import time; time.sleep(600)"
# Crashes on its first run only: counts its runs in the file given as argv[1].
CRASH_ONCE = (
    "import pathlib, sys, time\n"
    "runs = pathlib.Path(sys.argv[1])\n"
    "count = int(runs.read_text() or 0) if runs.exists() else 0\n"
    "runs.write_text(str(count + 1))\n"
    "sys.exit(3) if count == 0 else time.sleep(600)\n"
)


# Starts a child that outlives it (as Celery's embedded beat outlives a killed worker),
# records the child's pid in argv[1], then crashes.
CRASH_LEAVING_A_CHILD = (
    "import pathlib, subprocess, sys\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
    "pathlib.Path(sys.argv[1]).write_text(str(child.pid))\n"
    "sys.exit(5)\n"
)


def python(code: str, *args: str, own_group: bool = False) -> Callable[[], subprocess.Popen[bytes]]:
    return lambda: subprocess.Popen(
        [sys.executable, "-c", code, *args], start_new_session=own_group
    )


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited; only its parent has not collected it yet


def poll_until(supervisor: ProcessSupervisor, done: Callable[[], bool]) -> str | None:
    deadline = time.monotonic() + LIMIT_SECONDS
    while not done():
        if (reason := supervisor.poll()) is not None:
            return reason
        assert time.monotonic() < deadline, "the supervisor did not get there in time"
        time.sleep(0.05)
    return None


@pytest.fixture
def supervisors() -> Iterator[list[ProcessSupervisor]]:
    started: list[ProcessSupervisor] = []
    yield started
    for supervisor in started:
        supervisor.stop(grace_seconds=5)


def test_the_launcher_restarts_only_the_worker() -> None:
    assert "ProcessSupervisor" in vars(run_embedded)
    source = Path(run_embedded.__file__).read_text(encoding="utf-8")
    assert 'restartable={"worker"}' in source


def test_it_restarts_a_crashed_worker_while_the_others_keep_running(tmp_path, supervisors) -> None:
    lines: list[str] = []
    supervisor = ProcessSupervisor(
        {
            "server": python(SLEEP_FOREVER),
            "simulator": python(SLEEP_FOREVER),
            "worker": python(CRASH_ONCE, str(tmp_path / "runs")),
        },
        restartable={"worker"},
        backoff_seconds=0,
        log=lines.append,
    )
    supervisors.append(supervisor)
    first = dict(supervisor.start())

    reason = poll_until(supervisor, lambda: supervisor.restarts["worker"] == 1)

    assert reason is None
    assert supervisor.processes["worker"].pid != first["worker"].pid
    for name in ("server", "simulator"):
        assert supervisor.processes[name] is first[name]
        assert first[name].poll() is None
    assert supervisor.processes["worker"].poll() is None
    assert lines[0] == "The worker exited with code 3; restarting it in 0 s."
    assert lines[1].startswith("Restarted the worker (pid ")


def test_a_restart_first_kills_what_the_crashed_worker_left_running(tmp_path, supervisors) -> None:
    pid_file = tmp_path / "child.pid"
    supervisor = ProcessSupervisor(
        {"worker": python(CRASH_LEAVING_A_CHILD, str(pid_file), own_group=True)},
        restartable={"worker"},
        max_restarts=1,
        backoff_seconds=0,
        log=lambda _: None,
    )
    supervisors.append(supervisor)
    supervisor.start()

    poll_until(supervisor, lambda: pid_file.exists() and pid_file.read_text().strip() != "")
    orphan = int(pid_file.read_text())
    poll_until(supervisor, lambda: supervisor.restarts["worker"] == 1)

    deadline = time.monotonic() + LIMIT_SECONDS
    while running(orphan):
        assert time.monotonic() < deadline, "the crashed worker's child is still running"
        time.sleep(0.05)


def test_it_gives_up_after_the_cap_of_restarts_per_minute(supervisors) -> None:
    lines: list[str] = []
    supervisor = ProcessSupervisor(
        {"server": python(SLEEP_FOREVER), "worker": python("raise SystemExit(1)")},
        restartable={"worker"},
        max_restarts=3,
        backoff_seconds=0,
        log=lines.append,
    )
    supervisors.append(supervisor)
    supervisor.start()

    reason = poll_until(supervisor, lambda: False)

    assert reason == "The worker exited with code 1 after 3 restarts within 60 s; giving up."
    assert supervisor.restarts["worker"] == 3
    assert supervisor.processes["server"].poll() is None  # the launcher stops it next
    supervisor.stop(grace_seconds=5)
    assert supervisor.processes["server"].poll() is not None


def test_the_back_off_doubles_within_a_minute_and_starts_over_after_a_quiet_one() -> None:
    now = [0.0]
    lines: list[str] = []
    supervisor = ProcessSupervisor(
        {"worker": python("raise SystemExit(2)")},
        restartable={"worker"},
        clock=lambda: now[0],
        log=lines.append,
    )
    supervisor.start()
    try:
        for wait in (1.0, 2.0, 4.0, 100.0, 1.0):
            supervisor.processes["worker"].wait(LIMIT_SECONDS)
            assert supervisor.poll() is None  # notices the crash, schedules the restart
            now[0] += wait
            assert supervisor.poll() is None  # restarts when the back-off has passed
    finally:
        supervisor.stop(grace_seconds=5)

    assert [line for line in lines if "restarting" in line] == [
        "The worker exited with code 2; restarting it in 1 s.",
        "The worker exited with code 2; restarting it in 2 s.",
        "The worker exited with code 2; restarting it in 4 s.",
        "The worker exited with code 2; restarting it in 8 s.",
        # 100 s later the earlier crashes are out of the one-minute window.
        "The worker exited with code 2; restarting it in 1 s.",
    ]
    assert supervisor.restarts["worker"] == 5


def test_a_server_that_exits_stops_everything(supervisors) -> None:
    supervisor = ProcessSupervisor(
        {"server": python("raise SystemExit(4)"), "worker": python(SLEEP_FOREVER)},
        restartable={"worker"},
        backoff_seconds=0,
    )
    supervisors.append(supervisor)
    supervisor.start()

    assert poll_until(supervisor, lambda: False) == "The server exited with code 4."
