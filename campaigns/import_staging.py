"""An uploaded contact CSV kept between the admin import page's steps (upload → preview with
the column mapping → confirm), so the file is sent once.

The file goes to the default storage (the media folder here, S3 in production: every web
process of the deployment reads the same copy) under `contact-imports/<organization>/<list>/
<token>.csv`. The path is built from the list the page was opened for, which the admin finds in
the user's organizations only, and a random token: another organization's list is a 404 before
any path exists, and a token cannot name a file outside its list's folder (it must match
`TOKEN_PATTERN`). A staged file is deleted when the import is confirmed or abandoned, and any
older than `STAGED_MAX_AGE` in the same list's folder is deleted when a new one is staged.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, cast

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.utils import timezone

from campaigns.models import ContactList

logger = logging.getLogger("campaigns.import_staging")

FOLDER = "contact-imports"
# The staged copy is bounded: it is stored, not only streamed through.
STAGED_MAX_BYTES = 50 * 1024 * 1024
# A preview nobody confirmed for this long is abandoned.
STAGED_MAX_AGE = timedelta(hours=6)
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


@dataclass(frozen=True)
class StagedImport:
    token: str
    size: int


def _folder(contact_list: ContactList) -> str:
    return f"{FOLDER}/{contact_list.organization_id}/{contact_list.pk}"


def _key(contact_list: ContactList, token: str) -> str:
    if not TOKEN_PATTERN.match(token):
        raise ValidationError({"file": ["The uploaded file is gone; upload it again."]})
    return f"{_folder(contact_list)}/{token}.csv"


def staged_import_store(
    *, contact_list: ContactList, upload: UploadedFile, now: datetime | None = None
) -> StagedImport:
    """Keep `upload` for the next steps; refuses one over `STAGED_MAX_BYTES`."""
    size = int(upload.size or 0)
    if size > STAGED_MAX_BYTES:
        raise ValidationError(
            {"file": [f"The file is {size} bytes; at most {STAGED_MAX_BYTES} bytes are accepted."]}
        )
    if size == 0:
        raise ValidationError({"file": ["The file is empty."]})
    _sweep(contact_list, now=now or timezone.now())
    token = secrets.token_urlsafe(24)
    key = _key(contact_list, token)
    stored = default_storage.save(key, upload)
    if stored != key:  # a storage that renamed it: the token would not find it again
        default_storage.delete(stored)
        raise RuntimeError(f"storage stored {stored!r} instead of {key!r}")
    return StagedImport(token=token, size=size)


def staged_import_open(*, contact_list: ContactList, token: str) -> IO[bytes]:
    """The staged file, for reading (the caller closes it)."""
    key = _key(contact_list, token)
    if not default_storage.exists(key):
        raise ValidationError({"file": ["The uploaded file is gone; upload it again."]})
    return cast(IO[bytes], default_storage.open(key, "rb"))


def staged_import_discard(*, contact_list: ContactList, token: str) -> None:
    try:
        key = _key(contact_list, token)
    except ValidationError:
        return
    default_storage.delete(key)


def _sweep(contact_list: ContactList, *, now: datetime) -> None:
    folder = _folder(contact_list)
    try:
        _, names = default_storage.listdir(folder)
    except FileNotFoundError:
        return
    for name in names:
        key = f"{folder}/{name}"
        try:
            if now - default_storage.get_modified_time(key) > STAGED_MAX_AGE:
                default_storage.delete(key)
        except (FileNotFoundError, NotImplementedError):
            continue  # another request swept it first, or the storage cannot tell its age
