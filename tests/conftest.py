"""Personas and fixtures shared by every test.

Three people, as in healthchecks' tests: `owner` and `member` (a manager) belong to Acme,
`viewer` reads Acme, and `outsider` owns another organization. Each has an API client that
sends a Bearer key of their own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from channels.layers import channel_layers
from django.core.cache import cache
from rest_framework.test import APIClient

from anvil_voice.accounts import services
from anvil_voice.accounts.factories import MembershipFactory, OrganizationFactory
from anvil_voice.accounts.models import ApiKey, Membership, Organization, Role
from anvil_voice.celery import app as celery_app

if TYPE_CHECKING:
    from tests.voices.voices_support import SeaweedS3


@dataclass
class Persona:
    membership: Membership
    api_key: ApiKey
    raw_key: str
    client: APIClient

    @property
    def organization(self) -> Organization:
        return self.membership.organization


def make_persona(organization: Organization, role: str, username: str) -> Persona:
    membership = MembershipFactory(organization=organization, role=role, user__username=username)
    issued = services.api_key_issue(organization=organization, name=username, role=role)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")
    return Persona(membership, issued.api_key, issued.raw_key, client)


# The PostgreSQL + Redis pass (`.ci/run`'s second `make test`) repeats every test that can
# behave differently there: everything that reaches the database, the cache, the channel layer
# or the broker. Not repeated: tests of audio, speech and the pure call engine that never touch
# either (they run the same code on the same inputs), and tests marked `audio_behaviour`, whose
# assertions are about a live call's flow through the simulator (turn-taking, when a recording
# starts, a transfer's legs); their stored side is repeated by service tests and by the live-call
# end-to-end tests. Together about 3
# minutes of a pass the 20-minute CI budget cannot afford twice. `CI_REPEAT_ALL=1` repeats all.
_BACKEND_INDEPENDENT = (
    "tests/anvil_voice/speech/",
    "tests/anvil_voice/privacy/",
    "tests/anvil_voice/telephony/test_dtmf",
    "tests/anvil_voice/telephony/test_simulator_",
    "tests/scripts/engine/",
    "tests/sessions/pipeline/",
)
_DATABASE_FIXTURES = frozenset(
    {
        "db",
        "transactional_db",
        "django_db_reset_sequences",
        "django_db_serialized_rollback",
        "live_server",
    }
)


# Not repeated either, for CI's 20 minutes: browser walks (their admin views, selectors and
# services are tested in both passes), the benchmarks' smoke tests (they check a benchmark still
# runs, not the backend), the ASGI servers' envelope checks (servers started as subprocesses),
# the two end-to-end campaign runs over the simulator (their stored side is repeated there by
# the dialler, placement, status, conversation and outcome tests), and the tenant matrix (every
# operation against another organization's objects: the scoping is the same queries on both).
_NOT_REPEATED = (
    "tests/resilience/test_resilience_tenant_matrix.py",
    "tests/browser/",
    "tests/benchmarks/",
    "tests/anvil_voice/test_asgi_servers.py",
    "tests/sessions/test_sessions_live_calls_e2e.py",
    "tests/campaigns/test_campaigns_e2e.py",
    "tests/campaigns/test_campaigns_experiment_e2e.py",
    "tests/campaigns/test_campaigns_best_time_e2e.py",
)


def _repeated_on_postgresql(item: pytest.Item) -> bool:
    if item.get_closest_marker("audio_behaviour") is not None:
        return False
    if item.nodeid.startswith(_NOT_REPEATED):
        return False
    if not item.nodeid.startswith(_BACKEND_INDEPENDENT):
        return True
    fixtures = set(getattr(item, "fixturenames", ()))
    return item.get_closest_marker("django_db") is not None or bool(fixtures & _DATABASE_FIXTURES)


def _deselect(config: pytest.Config, items: list[pytest.Item], kept: list[pytest.Item]) -> None:
    if len(kept) < len(items):
        ids = set(map(id, kept))
        config.hook.pytest_deselected(items=[item for item in items if id(item) not in ids])
        items[:] = kept


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("CLUSTER_TEST") != "1":
        # The cluster test (2 web processes, 2 workers, beat, SeaweedFS: ~90 s and a loaded
        # box's worth of processes) runs with `make test-cluster`, not in `make test`: it
        # failed once in CI (the campaign did not complete within 150 s after the worker
        # kill) and CI is near its 20 minutes. docs/operations.md, "The cluster test".
        _deselect(config, items, [i for i in items if i.get_closest_marker("cluster") is None])
    on_postgresql = os.environ.get("DATABASE_URL", "").startswith("postgres")
    if not on_postgresql:
        # Tests marked `postgres` need PostgreSQL and Redis (the cluster test, the restarts
        # test): they belong to the PostgreSQL pass, so the SQLite pass leaves them out rather
        # than reporting them skipped.
        _deselect(config, items, [i for i in items if i.get_closest_marker("postgres") is None])
        return
    if os.environ.get("CI_REPEAT_ALL") == "1":
        return
    _deselect(config, items, [item for item in items if _repeated_on_postgresql(item)])


@pytest.fixture(scope="session", autouse=True)
def _flush_by_delete_on_postgresql() -> Iterator[None]:
    """After each transactional test Django empties every table (`flush`); on PostgreSQL that is
    one TRUNCATE of them all, which gives each table and index new files and scans the shared
    buffers once per relation: 0.1-0.7 s a test more than DELETEs on this box, 10-50 s over
    the PostgreSQL pass's 79 transactional tests (docs/decisions.md, 2026-12-07). DELETEs of
    the few rows a test leaves take milliseconds and leave the same empty tables, in one
    transaction (Django's foreign keys are deferred, so the order does not matter). Sequence
    resets and cascades, which no test asks for, keep TRUNCATE."""
    from django.db import connection

    if connection.vendor != "postgresql":
        yield
        return
    from django.db.backends.postgresql.operations import DatabaseOperations

    truncate = DatabaseOperations.sql_flush

    def sql_flush(  # type: ignore[no-untyped-def]
        self, style, tables, *, reset_sequences=False, allow_cascade=False
    ) -> list[str]:
        if reset_sequences or allow_cascade:
            return truncate(
                self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
            )
        delete = style.SQL_KEYWORD("DELETE FROM")
        return [f"{delete} {style.SQL_FIELD(self.quote_name(table))};" for table in tables]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseOperations, "sql_flush", sql_flush)
        yield


@pytest.fixture(autouse=True)
def _isolated_cache() -> Iterator[None]:
    # Rate-limit counters live in the cache; every test starts with a clean budget.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _fresh_channel_layer() -> Iterator[None]:
    # Each async test runs on its own event loop, but Channels caches one layer per process.
    # channels_redis keeps a receive lock per process-local channel prefix: a receive cancelled
    # when an earlier test's loop closed can leave it held and bound to that dead loop, and the
    # next test's receive then fails with "bound to a different event loop". A layer per test
    # keeps every test's receives on its own loop.
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture(autouse=True)
def _eager_celery() -> Iterator[None]:
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """One SeaweedFS server (S3) for the session: the voices and upload tests share it (each
    test empties the bucket first); it takes seconds to start."""
    from tests.voices.voices_support import SeaweedS3

    server = SeaweedS3(workdir=tmp_path_factory.mktemp("seaweedfs"))
    try:
        server.start(timeout=30)
    except RuntimeError as error:
        # Never a silent skip: S3 behaviour is part of what these tests promise.
        pytest.fail(f"SeaweedFS could not start: {error}")
    yield server
    server.stop()


@pytest.fixture
def eager_retries() -> Iterator[None]:
    """A task's `self.retry()` re-runs it at once, as a worker would after the countdown.

    Eager `apply` hands a raised `Retry` to the caller while errors propagate; without
    propagation it runs the retry itself. Production code does not know it runs eagerly.
    """
    celery_app.conf.task_eager_propagates = False
    yield
    celery_app.conf.task_eager_propagates = True


@pytest.fixture(autouse=True)
def _ample_live_call_capacity(settings) -> None:  # type: ignore[no-untyped-def]
    # The default capacity follows the cores of the machine running the tests (4 on CI's two):
    # tests of anything else must not queue behind it. Capacity tests set their own.
    settings.LIVE_CALL_CAPACITY_PER_PROCESS = 10_000
    settings.LIVE_CALL_PROCESSES = 1


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path / "media"
    # Personas get passwords; the production hasher's deliberate slowness only costs test time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Tests never run collectstatic, so the manifest storage production uses has no manifest.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def acme(db: None) -> Organization:
    return OrganizationFactory(name="Acme", slug="acme")


@pytest.fixture
def globex(db: None) -> Organization:
    return OrganizationFactory(name="Globex", slug="globex")


@pytest.fixture
def owner(acme: Organization) -> Persona:
    return make_persona(acme, Role.OWNER, "olivia")


@pytest.fixture
def member(acme: Organization) -> Persona:
    return make_persona(acme, Role.MANAGER, "mario")


@pytest.fixture
def viewer(acme: Organization) -> Persona:
    return make_persona(acme, Role.VIEWER, "vera")


@pytest.fixture
def outsider(globex: Organization) -> Persona:
    return make_persona(globex, Role.OWNER, "oscar")


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()


@pytest.fixture
def placement_tasks(monkeypatch) -> list[int]:  # type: ignore[no-untyped-def]
    """Records which sessions were sent to be placed instead of placing them (the services
    queue the real task, imported at module level: its `delay` is what is replaced)."""
    from sessions.tasks import session_place_call_task

    queued: list[int] = []
    monkeypatch.setattr(session_place_call_task, "delay", queued.append)
    return queued
