"""The embedded broker never hands a reader a half-written message (issue 15, item 12).

kombu's filesystem transport creates a message file before writing it; a worker polling in
between read an empty file and died. The reader here polls at exactly that moment: while the
producer is serialising the payload, after anything the transport did to the folder before.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from queue import Empty
from typing import Any

import pytest
from django.conf import settings
from kombu import Connection
from kombu.transport import filesystem

QUEUE = "celery"


def broker(folder: Path) -> Connection:
    options: dict[str, Any] = {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
    }
    for key in ("data_folder_in", "processed_folder", "control_folder"):
        Path(options[key]).mkdir(parents=True, exist_ok=True)
    return Connection("filesystem://", transport=ATOMIC_TRANSPORT, transport_options=options)


ATOMIC_TRANSPORT = "anvil_voice.celery_broker:Transport"


def test_the_embedded_default_uses_the_atomic_transport() -> None:
    """Settings loaded as `make run` loads them (no Redis, no broker URL): in a subprocess, so
    the check holds on the PostgreSQL + Redis pass too, whose own broker is Redis."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("REDIS_URL", "DATABASE_URL", "CELERY_BROKER_URL")
    }
    env["DJANGO_SETTINGS_MODULE"] = "anvil_voice.settings"
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.CELERY_BROKER_URL, settings.CELERY_BROKER_TRANSPORT)"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert shown.stdout.split() == ["filesystem://", ATOMIC_TRANSPORT]


def test_a_reader_polling_during_a_put_sees_nothing_then_the_whole_message(
    tmp_path, monkeypatch
) -> None:
    with broker(tmp_path) as producer_connection, broker(tmp_path) as worker_connection:
        producer: Any = producer_connection.channel()
        worker: Any = worker_connection.channel()
        seen_mid_put: list[Any] = []
        real_dumps = filesystem.dumps  # type: ignore[attr-defined]

        def dumps_while_the_worker_polls(payload: Any) -> str:
            try:
                seen_mid_put.append(worker._get(QUEUE))
            except Empty:
                seen_mid_put.append(Empty)
            except Exception as exc:
                seen_mid_put.append(exc)
            return str(real_dumps(payload))

        monkeypatch.setattr(filesystem, "dumps", dumps_while_the_worker_polls)
        producer._put(QUEUE, {"body": "hello", "n": 1})
        monkeypatch.undo()

        assert seen_mid_put == [Empty]
        assert worker._get(QUEUE) == {"body": "hello", "n": 1}
        with pytest.raises(Empty):
            worker._get(QUEUE)
        assert sorted(p.name for p in (tmp_path / "queue").iterdir()) == []


def test_every_message_arrives_once(tmp_path) -> None:
    with broker(tmp_path) as connection:
        channel: Any = connection.channel()
        for n in range(5):
            channel._put(QUEUE, {"n": n})
        assert channel._size(QUEUE) == 5
        # Same-millisecond messages sort by a random part, as in kombu's own transport.
        assert sorted(channel._get(QUEUE)["n"] for _ in range(5)) == [0, 1, 2, 3, 4]
        assert channel._size(QUEUE) == 0
