"""`make run`: the whole system on the embedded default, in one terminal.

Starts the ASGI server (Daphne: HTTP + websockets), a Celery worker with beat on the
filesystem broker, and the Twilio simulator; prints the admin login and a fresh demo API key;
stops everything on Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def _issue_demo_key(python: str, env: dict[str, str]) -> str:
    output = subprocess.run(  # noqa: S603 - fixed argv, our own command
        [python, "manage.py", "create_api_key", "--organization", "demo", "--name", "make-run"],
        cwd=BASE_DIR,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return output.strip().splitlines()[-1]


def _wait_for(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our own local URL
                return True
        except OSError:
            time.sleep(0.3)
    return False


def main() -> int:
    python = sys.executable
    bin_dir = Path(python).parent
    port = os.environ.get("PORT", "8000")
    env = dict(os.environ)
    env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")
    var_dir = BASE_DIR / "var"
    var_dir.mkdir(exist_ok=True)

    commands = {
        "server": [
            str(bin_dir / "daphne"), "-b", "127.0.0.1", "-p", port, "anvil_voice.asgi:application"
        ],
        "worker": [
            str(bin_dir / "celery"), "-A", "anvil_voice", "worker", "--beat",
            "--pool=threads", "--concurrency=4", "--loglevel=WARNING",
            "--schedule", str(var_dir / "celerybeat-schedule"),
        ],
    }  # fmt: skip
    simulator = BASE_DIR / "anvil_voice/telephony/management/commands/twilio_simulator.py"
    if simulator.exists():
        commands["simulator"] = [python, "manage.py", "twilio_simulator"]

    processes = {
        name: subprocess.Popen(command, cwd=BASE_DIR, env=env)  # noqa: S603 - fixed argv
        for name, command in commands.items()
    }

    def stop(*_: object) -> None:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        health = f"http://127.0.0.1:{port}/api/v1/voice/health"
        if not _wait_for(health, timeout=60):
            print("The server did not come up; see the log above.", file=sys.stderr)
            stop()
            return 1
        api_key = _issue_demo_key(python, env)
        print(
            "\n".join(
                [
                    "",
                    "Anvil Voice is running (embedded default).",
                    f"  Admin:    http://127.0.0.1:{port}/admin/  (admin / anvil-demo)",
                    f"  API docs: http://127.0.0.1:{port}/api/v1/voice/docs/",
                    f"  Health:   curl -H 'Authorization: Bearer {api_key}' {health}",
                    f"  API key:  {api_key}",
                    "Press Ctrl-C to stop.",
                    "",
                ]
            ),
            flush=True,
        )
        while all(process.poll() is None for process in processes.values()):
            time.sleep(0.5)
        failed = [name for name, process in processes.items() if process.poll() is not None]
        print(f"Stopped: {', '.join(failed)} exited.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop()
        for process in processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    raise SystemExit(main())
