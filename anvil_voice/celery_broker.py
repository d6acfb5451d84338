"""The embedded default's Celery broker: kombu's filesystem transport, with atomic messages.

kombu's filesystem `_put` creates the message file under its final name, then locks it and
writes; `_get` lists the folder and moves the first matching file away without taking the lock.
A worker polling between the two finds an empty file, fails to decode it and dies (this is the
crash that stopped `make run` under load, issue 15). Here a message is written under a name no
reader matches, in the same folder (so on the same file system), and renamed into place:
rename is atomic, so a reader sees a complete message or none. No new dependency: kombu's
SQLAlchemy transport would need SQLAlchemy, which the project does not install.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem

# Readers match `<stamp>_<uuid>.<queue>.msg` after the first dot; a name that starts with a dot
# and carries no queue part never matches.
STAGING_PREFIX = ".staging-"


class Channel(filesystem.Channel):
    # kombu's stubs name the argument `message` in the base class and `payload` here.
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Put `payload` onto `queue`: write it aside, then rename it into the queue."""
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        staging = os.path.join(self.data_folder_out, f"{STAGING_PREFIX}{uuid.uuid4()}")
        try:
            with open(staging, "wb") as handle:
                # Serialised as kombu's own transport does (its stubs do not declare `dumps`).
                handle.write(filesystem.dumps(payload).encode())  # type: ignore[attr-defined]
            os.replace(staging, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.remove(staging)
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
