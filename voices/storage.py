"""Where voice audio lives in the default storage, and how people get to hear it.

Keys are generated here, never taken from a client:
    voices/<organization id>/<voice uid>/samples/<uuid>.<ext>
    voices/<organization id>/<voice uid>/previews/<uuid>.mp3
On S3 the objects are private and reached through presigned URLs that expire; on local disk
(the embedded default, where MEDIA_ROOT is not served) they are streamed by authenticated views.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO, cast

from django.core.files import File
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponseBase, HttpResponseRedirect
from django.utils import timezone

logger = logging.getLogger(__name__)

CONTENT_TYPES = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "m4a": "audio/mp4",
    "aac": "audio/aac",
    "webm": "audio/webm",
    "mka": "audio/x-matroska",
}


@dataclass(frozen=True)
class SignedUrl:
    url: str
    expires_at: datetime


def sample_key(*, folder: str, audio_format: str) -> str:
    # The extension follows the decoded content, not the uploaded name.
    return f"{folder}/samples/{uuid.uuid4().hex}.{audio_format}"


def preview_key(*, folder: str) -> str:
    return f"{folder}/previews/{uuid.uuid4().hex}.mp3"


def store(*, key: str, content: File) -> str:
    """Save `content` under `key` and return the stored name.

    Storage backends stream: FileSystemStorage moves a temporary upload or copies it chunk by
    chunk, S3Storage sends it with boto3's managed (multipart) upload from the open file.
    """
    content.seek(0)
    return default_storage.save(key, content)


def open_stored(name: str) -> BinaryIO:
    """A stored object opened for reading (S3: fetched on first read)."""
    return cast(BinaryIO, default_storage.open(name, "rb"))


def delete_quietly(names: Iterable[str]) -> list[str]:
    """Delete stored objects; return (and log) those that could not be deleted."""
    failed: list[str] = []
    for name in names:
        if not name:
            continue
        try:
            default_storage.delete(name)
        except Exception:
            # Cleanup must not turn a finished delete (or a rejected upload) into a 500; an
            # object left behind is logged so an operator can remove it.
            logger.exception("voices.storage_delete_failed name=%s", name)
            failed.append(name)
    return failed


def signed_url(name: str) -> SignedUrl | None:
    """A presigned URL if the storage signs its URLs (S3), else None (local files)."""
    if not getattr(default_storage, "querystring_auth", False):
        return None
    lifetime = int(getattr(default_storage, "querystring_expire", 3600))
    # Computed before signing so the stated expiry is never later than the real one.
    expires_at = timezone.now() + timedelta(seconds=lifetime)
    return SignedUrl(url=default_storage.url(name), expires_at=expires_at)


def audio_response(*, name: str, audio_format: str) -> HttpResponseBase:
    """Play a stored file: redirect to a presigned URL on S3, stream it from local storage."""
    if signed := signed_url(name):
        return HttpResponseRedirect(signed.url)
    response = FileResponse(
        default_storage.open(name, "rb"),
        content_type=CONTENT_TYPES.get(audio_format, "application/octet-stream"),
    )
    # Stored audio never changes under a given key, but it is private to the organization.
    response["Cache-Control"] = "private, max-age=3600"
    return response
