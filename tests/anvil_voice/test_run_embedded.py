"""`make run`'s launcher: ports derived from PORT, checked before anything starts, start-up
failures reported before the banner, and the embedded worker's root warning."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from anvil_voice import run_embedded
from anvil_voice.run_embedded import (
    Ports,
    any_free_port,
    child_env,
    plan_ports,
    port_is_free,
    port_problems,
    var_dir_for,
    wait_until_ready,
    worker_env,
)

BASE_DIR = Path(run_embedded.__file__).resolve().parent.parent


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something else listens on for the test's duration."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def test_port_sets_derived_for_different_ports_do_not_collide() -> None:
    first = plan_ports(8301, {}, is_free=lambda port: True)
    second = plan_ports(8302, {}, is_free=lambda port: True)

    assert first == Ports(server=8301, simulator=8311)
    assert second == Ports(server=8302, simulator=8312)
    assert not set(first.named().values()) & set(second.named().values())


def test_an_instance_whose_derived_port_is_another_instances_server_picks_a_free_one() -> None:
    running = plan_ports(8010, {}, is_free=lambda port: True)  # 8010 and its simulator 8020
    in_use = set(running.named().values())

    second = plan_ports(8000, {}, is_free=lambda port: port not in in_use, pick_free=lambda: 41234)

    assert second == Ports(server=8000, simulator=41234)
    assert not in_use & set(second.named().values())


def test_it_picks_another_simulator_port_when_the_derived_one_is_taken(taken_port: int) -> None:
    ports = plan_ports(taken_port - 10, {})

    assert ports.simulator != taken_port
    assert port_is_free(ports.simulator)
    assert port_problems(ports, is_free=lambda port: port != taken_port) == []


def test_an_explicit_simulator_port_that_is_taken_is_a_problem(taken_port: int) -> None:
    ports = plan_ports(8301, {"TWILIO_SIMULATOR_PORT": str(taken_port)})

    problems = port_problems(ports)

    assert ports.simulator == taken_port
    assert len(problems) == 1
    assert f"Port {taken_port} for the simulator is already in use" in problems[0]


def test_the_launcher_fails_before_the_banner_when_the_simulator_port_is_taken(
    taken_port: int, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "PORT": str(any_free_port()),
        "TWILIO_SIMULATOR_PORT": str(taken_port),
        "ANVIL_VAR_DIR": str(tmp_path),
    }

    completed = subprocess.run(
        [sys.executable, "-m", "anvil_voice.run_embedded"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert completed.returncode == 1
    assert "API key" not in completed.stdout
    assert f"Port {taken_port} for the simulator is already in use" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert not (tmp_path / "db.sqlite3").exists()  # nothing was started, not even migrate


def test_a_process_that_exits_during_start_up_is_reported() -> None:
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    dead = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    try:
        problem = wait_until_ready(
            {"server": alive, "simulator": dead},
            {"server": lambda: False},
            timeout=20,
            interval=0.05,
        )
    finally:
        alive.kill()
        alive.wait()

    assert problem == "The simulator exited with code 3 during start-up; see its log above."


def test_each_port_keeps_its_own_state_folder() -> None:
    default = var_dir_for(8000, {})
    second = var_dir_for(8301, {})
    third = var_dir_for(8302, {})

    assert default == BASE_DIR / "var"
    assert len({default, second, third}) == 3
    assert var_dir_for(8301, {"ANVIL_VAR_DIR": "/srv/anvil"}) == Path("/srv/anvil")
    env = child_env({}, Ports(8301, 8311), second)
    assert env["ANVIL_VAR_DIR"] == str(second)
    assert env["TWILIO_API_BASE_URL"] == "http://127.0.0.1:8311"
    assert env["PUBLIC_BASE_URL"] == "http://127.0.0.1:8301"


def test_a_second_launcher_on_the_same_state_folder_is_refused(tmp_path: Path) -> None:
    held = run_embedded.lock_var_dir(tmp_path)
    try:
        assert held is not None
        assert run_embedded.lock_var_dir(tmp_path) is None
    finally:
        assert held is not None
        held.close()
    again = run_embedded.lock_var_dir(tmp_path)
    assert again is not None
    again.close()


def test_the_embedded_worker_does_not_print_celerys_root_warning() -> None:
    # The warning Celery's worker gives at start-up as root, emitted as the worker does.
    emit = (
        "from celery import platforms; "
        "platforms._warn_or_raise_security_error(0, 0, 0, 0, pickle_or_serialize=False)"
    )
    env = {key: value for key, value in os.environ.items() if key != "PYTHONWARNINGS"}

    completed = subprocess.run(
        [sys.executable, "-c", emit],
        env=worker_env(env),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert completed.returncode == 0
    if os.geteuid() == 0:
        assert "superuser" not in completed.stderr
    assert "C_FORCE_ROOT" not in worker_env(env)


def test_uvicorn_serves_by_default_and_daphne_runs_through_our_entry_point() -> None:
    uvicorn = run_embedded.asgi_server_command(run_embedded.DEFAULT_ASGI_SERVER, "py", 8000)
    daphne = run_embedded.asgi_server_command("daphne", "py", 8000)

    assert uvicorn[:3] == ["py", "-m", "uvicorn"]
    assert uvicorn[uvicorn.index("--ws") + 1] == "websockets-sansio"
    assert daphne[:3] == ["py", "-m", "anvil_voice.daphne_server"]
    assert uvicorn[-1] == daphne[-1] == "anvil_voice.asgi:application"
    with pytest.raises(ValueError, match="ASGI_SERVER must be one of uvicorn, daphne"):
        run_embedded.asgi_server_command("gunicorn", "py", 8000)
