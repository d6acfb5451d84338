"""The domain errors are framework-free: importing them pulls in neither Django nor DRF."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from anvil_voice.errors import (
    ApplicationError,
    Conflict,
    ErrorCode,
    InvalidState,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
)

ROOT = Path(__file__).resolve().parents[2]


# The package `anvil_voice` itself loads the Celery app, whose Django fixup imports django, so
# the module is executed on its own from its file: whatever it pulls in is its own doing.
ALONE = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("domain_errors", "anvil_voice/errors.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
module.ApplicationError("x")
loaded = sorted(m for m in sys.modules if m.startswith(("django", "rest_framework", "anvil_voice")))
assert not loaded, loaded
"""
# And imported the usual way, it adds no django or rest_framework module to the package's own.
AFTER_PACKAGE = """
import sys
import anvil_voice
before = set(sys.modules)
import anvil_voice.errors
added = sorted(m for m in set(sys.modules) - before if m.startswith(("django", "rest_framework")))
assert not added, added
"""


@pytest.mark.parametrize("check", [ALONE, AFTER_PACKAGE], ids=["alone", "after-package"])
def test_it_imports_neither_django_nor_rest_framework(check):
    result = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stderr


def test_each_subclass_carries_its_code_and_the_message():
    for cls, code in [
        (ApplicationError, ErrorCode.VALIDATION_ERROR),
        (NotFound, ErrorCode.NOT_FOUND),
        (InvalidState, ErrorCode.INVALID_STATE),
        (Conflict, ErrorCode.CONFLICT),
        (PayloadTooLarge, ErrorCode.PAYLOAD_TOO_LARGE),
        (ServiceUnavailable, ErrorCode.SERVICE_UNAVAILABLE),
    ]:
        error = cls("Nope.", details={"name": ["Taken."]})
        assert (error.code, error.message, str(error)) == (code, "Nope.", "Nope.")
        assert error.details == {"name": ["Taken."]}


def test_a_code_given_overrides_the_class_code_on_that_instance_only():
    assert ApplicationError("Gone.", code=ErrorCode.NOT_FOUND).code == ErrorCode.NOT_FOUND
    assert ApplicationError("Bad.").code == ErrorCode.VALIDATION_ERROR
    assert ApplicationError("Bad.").details is None
