"""The production topology (`make run-cluster`) under a campaign, with a web process and a worker
killed mid-way (issue 18).

The cluster is the one `anvil_voice/run_cluster.py` runs, built from its own pieces (its
commands, its environment, its supervisor): two Uvicorn web processes behind the round-robin
load balancer, two Celery workers (threads), one beat, the Twilio simulator, SeaweedFS as S3
(the session's), and this machine's PostgreSQL and Redis. Only the one-time set-up differs:
the database is pytest-django's test database (already migrated, emptied after the test), so
no `migrate`, `collectstatic` or `seed_demo` runs; this process seeds campaigns with the ORM and
reads the outcome from the same tables. The speech pipeline runs as in production (local
Whisper and Piper in the web processes).

What each web process served is read from the sessions' `stream_started` events (`served_by`,
host:pid); what rang, from the simulator's own record of calls (`GET /_sim/calls`).

Runs with `make test-cluster` (`CLUSTER_TEST=1`, PostgreSQL and Redis; the `cluster` marker
keeps it out of `make test` until it is reliable in CI and CI has the time for it). Calls are
short (the simulator answers at a quarter of the usual delays, Twilio's time limit ends every
call within seconds) and the sessions' sweeps run every two seconds; every wait is for a
condition.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

sys.path.insert(0, str(Path(__file__).resolve().parent))

from process_support import midday_zone, wait_until, zoneless_area_codes

from anvil_voice.process_supervisor import ProcessSupervisor
from anvil_voice.run_cluster import (
    ClusterPlan,
    cluster_commands,
    cluster_env,
    cluster_secrets,
    restartable,
)
from anvil_voice.run_embedded import BASE_DIR, _answers, _listening, worker_env
from anvil_voice.seaweed import SeaweedS3, free_ports
from campaigns.models import Campaign, CampaignContact, CampaignStatus
from sessions.models import CallEvent, CallSession

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.cluster,
    pytest.mark.django_db(transaction=True),
]

HEALTH = "/api/v1/voice/health"
BOOT = 120.0  # seven Python processes importing Django at once on a busy two-core box
CAMPAIGN = 150.0
# What the processes see on top of `cluster_env` (production settings on local services).
TEST_SETTINGS = {
    "CLUSTER_SIMULATOR_CPS": "20",
    # Rings, answers and callbacks at a quarter of the usual delays (audio stays real time);
    # Twilio's time limit (scaled the same) ends an answered call after 6 s.
    "CLUSTER_SIMULATOR_TIME_SCALE": "0.25",
    "TWILIO_TIME_LIMIT_SECONDS": "24",
    # A placement a killed worker left is recovered 12 s later (the floor: three REST timeouts).
    "TWILIO_HTTP_TIMEOUT_SECONDS": "4",
    "CAMPAIGNS_CALLER_ID_CHECK": "simulator",
    "LIVE_CALL_CAPACITY_PER_PROCESS": "20",
    # The sweeps run every 2 s; a conversation whose process was killed is closed 12 s after
    # the carrier ended its call (the floor: the hang-up grace plus 10 s).
    "SESSIONS_SWEEP_SECONDS": "2",
    "CALL_HANGUP_GRACE_SECONDS": "2",
    "CALL_CONVERSATION_ABANDONED_SECONDS": "12",
    "CALL_PLACEMENT_STUCK_SECONDS": "12",
    "PYTHONUNBUFFERED": "1",
}
# Persona digits (PERSONAS.md; 23-99 act as 00-09 by their last digit) → how many contacts.
# Answered calls open Media Streams on the web processes; busy and failed ones only call back.
PERSONA_MIX = {"4": 8, "6": 4, "1": 4, "2": 4}


@dataclass
class Cluster:
    plan: ClusterPlan
    supervisor: ProcessSupervisor
    logs: Path
    env: dict[str, str]
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def simulator_url(self) -> str:
        return f"http://127.0.0.1:{self.plan.simulator_port}"

    def pid(self, name: str) -> int:
        with self._lock:
            return self.supervisor.processes[name].pid

    def kill(self, name: str) -> int:
        """SIGKILL the process and its group (no shutdown code runs); the supervisor restarts
        it after its back-off, as in `make run-cluster`."""
        with self._lock:
            pid = self.supervisor.processes[name].pid
            os.killpg(pid, signal.SIGKILL)
        return pid

    def supervise(self) -> None:
        while not self._stop.wait(0.2):
            with self._lock:
                reason = self.supervisor.poll()
            if reason is not None:
                print(f"cluster supervisor: {reason}", file=sys.stderr)
                return

    def calls(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.simulator_url}/_sim/calls", timeout=10) as answer:
            return list(json.loads(answer.read())["calls"])

    def log_tails(self, size: int = 3000) -> str:
        return "\n".join(
            f"--- {path.name} ---\n{path.read_text(errors='replace')[-size:]}"
            for path in sorted(self.logs.glob("*.log"))
        )


def database_url_of_the_test_database() -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + str(connection.settings_dict["NAME"])))


def cluster_redis_url() -> str:
    """A Redis database of its own: the test's number + 1 (CLUSTER_TEST_REDIS_URL overrides)."""
    if configured := os.environ.get("CLUSTER_TEST_REDIS_URL"):
        return configured
    parts = urlsplit(os.environ["REDIS_URL"])
    number = int(parts.path.lstrip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(number + 1) % 16}"))


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url, socket_connect_timeout=3).flushdb()


@pytest.fixture(scope="module")
def cluster(
    seaweed: SeaweedS3, tmp_path_factory: pytest.TempPathFactory, django_db_setup: Any
) -> Iterator[Cluster]:
    """The topology, started from nothing and stopped, every process group killed, at the end
    (pass or fail)."""
    port, s3_port = free_ports(2)  # each with a free +10 neighbour: the simulator's port
    plan = ClusterPlan(
        port=port,
        s3_port=s3_port,
        simulator_cps=float(TEST_SETTINGS["CLUSTER_SIMULATOR_CPS"]),
        simulator_time_scale=float(TEST_SETTINGS["CLUSTER_SIMULATOR_TIME_SCALE"]),
    )
    tmp_path = tmp_path_factory.mktemp("cluster")
    var_dir = tmp_path / "var"
    logs = tmp_path / "logs"
    var_dir.mkdir()
    logs.mkdir()
    redis_url = cluster_redis_url()
    flush_redis(redis_url)
    base = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "PYTEST_CURRENT_TEST"}
    }
    base.update(TEST_SETTINGS)
    base.update(
        DATABASE_URL=database_url_of_the_test_database(),
        REDIS_URL=redis_url,
        AWS_STORAGE_BUCKET_NAME=seaweed.bucket,
        AWS_S3_ENDPOINT_URL=seaweed.endpoint,
        AWS_ACCESS_KEY_ID=seaweed.access_key,
        AWS_SECRET_ACCESS_KEY=seaweed.secret_key,
    )
    env = cluster_env(base, plan, var_dir, cluster_secrets(var_dir))
    commands = cluster_commands(plan, sys.executable, var_dir)
    restart = restartable(commands)
    runs: Counter[str] = Counter()

    def spawner(name: str, command: list[str]) -> Any:
        child = worker_env(env) if name.startswith(("worker", "beat")) else env

        def spawn() -> subprocess.Popen[bytes]:
            runs[name] += 1
            with (logs / f"{name}-{runs[name]}.log").open("wb") as log:
                # Every process in a group of its own: the teardown kills each group whole.
                return subprocess.Popen(
                    command,
                    cwd=BASE_DIR,
                    env=child,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )

        return spawn

    supervisor = ProcessSupervisor(
        {name: spawner(name, command) for name, command in commands.items()},
        restartable=restart,
        # A killed web process or worker comes back at once (make run-cluster waits 1 s).
        backoff_seconds=0.5,
    )
    running = Cluster(plan=plan, supervisor=supervisor, logs=logs, env=env)
    thread: threading.Thread | None = None
    try:
        processes = supervisor.start()
        thread = threading.Thread(target=running.supervise, name="cluster-supervisor", daemon=True)
        thread.start()

        def ready() -> bool:
            for name, process in list(processes.items()):
                if process.poll() is not None and name not in restart:
                    raise AssertionError(f"the {name} exited:\n{running.log_tails()}")
            urls = [f"http://127.0.0.1:{p}{HEALTH}" for p in [*plan.web_ports, plan.port]]
            return all(_answers(url) for url in urls) and _listening(plan.simulator_port)

        booting = time.monotonic()
        wait_until(ready, BOOT, "the cluster to answer")
        print(f"cluster ready in {time.monotonic() - booting:.1f} s", file=sys.stderr)
        yield running
    finally:
        running._stop.set()
        if thread is not None:
            thread.join(5)
        # Killed outright: nothing here needs a graceful stop (the broker's database is
        # flushed, the test database emptied), and a Celery warm shutdown takes seconds.
        supervisor.stopping = True
        for process in supervisor.processes.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        for process in supervisor.processes.values():
            process.wait(10)
        with contextlib.suppress(Exception):
            flush_redis(redis_url)
        # Shown by pytest for a failing test: tmp folders do not last.
        print(running.log_tails(1500))


def persona_numbers(area: str) -> list[str]:
    """PERSONA_MIX's 20 numbers in `area`, interleaved so answered calls spread over the run."""
    by_persona = [
        # Tens from 3 where 2 would make a special persona (21, 22); 24 and 26 are as 04, 06.
        [f"+1{area}55501{ten}{persona}" for ten in range(first, first + count)]
        for persona, count in PERSONA_MIX.items()
        for first in [2 if persona >= "3" else 3]
    ]
    numbers: list[str] = []
    for rank in range(max(PERSONA_MIX.values())):
        numbers += [group[rank] for group in by_persona if rank < len(group)]
    return numbers


def seed_campaign(organization: Any, area: str) -> Campaign:
    """A running campaign over PERSONA_MIX's contacts, one attempt each, in `area` (a code the
    numbering plan gives no zone; the contacts' explicit zone is at midday, so the workers'
    real clock may always call)."""
    from campaigns import services
    from campaigns.factories import CallerIdFactory, CampaignFactory, ContactListFactory
    from campaigns.models import Contact

    contact_list: Any = ContactListFactory(organization=organization, name=f"Cluster {area}")
    for phone_number in persona_numbers(area):
        Contact.objects.create(
            organization=organization,
            contact_list=contact_list,
            phone_number=phone_number,
            first_name="Sam",  # one name: the agent's opening is synthesised once per process
            time_zone=midday_zone(),
        )
    campaign: Any = CampaignFactory(
        organization=organization,
        contact_list=contact_list,
        caller_id=CallerIdFactory(organization=organization, phone_number="+15005550006"),
        max_attempts=1,
        max_concurrent_calls=6,
        calls_per_second=4,
    )
    return services.campaign_start(campaign=campaign, actor=services.Actor.named("test"))


def served_by(campaign: Campaign) -> dict[int, str]:
    """Session id → the web process (host:pid) that held its Media Stream."""
    events = CallEvent.objects.filter(session__campaign=campaign, kind="stream_started")
    return {event.session_id: str(event.data.get("served_by")) for event in events}


def pid_of(process: str) -> int:
    return int(process.rpartition(":")[2])


def wait_for_completed(cluster: Cluster, campaign: Campaign) -> None:
    def completed() -> bool:
        campaign.refresh_from_db()
        return campaign.status == CampaignStatus.COMPLETED

    try:
        wait_until(completed, CAMPAIGN, "the campaign to complete")
    except AssertionError as error:
        raise AssertionError(f"{error}\n{cluster.log_tails()}") from error


def assert_nobody_rung_twice(cluster: Cluster, campaign: Campaign) -> list[dict[str, Any]]:
    """Each contact: one call at the simulator, one session, our call id = the simulator's."""
    numbers = set(
        CampaignContact.objects.filter(campaign=campaign).values_list(
            "contact__phone_number", flat=True
        )
    )
    calls = [call for call in cluster.calls() if call["to"] in numbers]
    rung = Counter(call["to"] for call in calls)
    assert sorted(rung) == sorted(numbers), "a contact was never rung"
    assert max(rung.values()) == 1, {to: n for to, n in rung.items() if n > 1}
    sids = set(
        CallSession.objects.filter(campaign=campaign).values_list("carrier_call_sid", flat=True)
    )
    assert sids == {call["sid"] for call in calls}
    return calls


def assert_every_session_ended(campaign: Campaign) -> None:
    """No session lost: each one ended, its conversation (if any) closed with a reason, its
    contact's attempt applied."""
    sessions = CallSession.objects.filter(campaign=campaign)
    assert sessions.count() == len(persona_numbers("200"))
    for session in sessions:
        assert session.ended_at is not None, session.pk
        assert session.outcome, session.pk
        assert session.conversation_state != "open", session.pk
    assert not CampaignContact.objects.filter(
        campaign=campaign, state__in=["pending", "in_progress"]
    ).exists()


def conversation_end_reasons(session_ids: list[int]) -> dict[int, str]:
    events = CallEvent.objects.filter(session_id__in=session_ids, kind="conversation_ended")
    return {event.session_id: str(event.data.get("reason") or "") for event in events}


def live_on(campaign: Campaign, process: str) -> list[int]:
    """Sessions whose stream `process` holds now: answered, conversation open, not ended."""
    on_it = [session for session, server in served_by(campaign).items() if server == process]
    return list(
        CallSession.objects.filter(
            pk__in=on_it, conversation_state="open", ended_at__isnull=True
        ).values_list("pk", flat=True)
    )


def test_a_campaign_completes_on_both_web_processes_through_a_killed_web_process_and_worker(
    cluster, acme
):
    campaign = seed_campaign(acme, zoneless_area_codes(1)[0])
    web_1, web_2 = cluster.pid("web-1"), cluster.pid("web-2")
    started = time.monotonic()
    timeline: dict[str, float] = {}

    def both_serve_and_one_holds_a_call() -> tuple[str, str, list[int]] | None:
        servers = {pid_of(server): server for server in served_by(campaign).values()}
        if web_1 not in servers or web_2 not in servers:
            return None
        for victim, server in (("web-1", servers[web_1]), ("web-2", servers[web_2])):
            if live := live_on(campaign, server):
                return victim, server, live
        return None

    # Mid-campaign: both web processes have served calls, one holds a live call: kill it.
    found = wait_until(both_serve_and_one_holds_a_call, CAMPAIGN, "calls on both web processes")
    assert found is not None
    victim, killed_server, in_flight = found
    survivor = next(
        server
        for server in served_by(campaign).values()
        if server != killed_server and pid_of(server) in {web_1, web_2}
    )
    live_on_survivor = live_on(campaign, survivor)
    cluster.kill(victim)
    timeline[f"{victim} killed"] = time.monotonic() - started
    # Still open now that their process is gone (one may have closed in the moment before):
    # nothing but the sweep can close these.
    in_flight = list(
        CallSession.objects.filter(pk__in=in_flight, conversation_state="open").values_list(
            "pk", flat=True
        )
    )
    assert in_flight, "the killed process's calls all closed before it died"
    placed_at_web_kill = len(cluster.calls())

    # Then a worker, once dialling went on and while contacts still wait for their call.
    def dialled_on() -> bool:
        return len(cluster.calls()) > placed_at_web_kill

    wait_until(dialled_on, CAMPAIGN, "a call placed after the web process was killed")
    not_yet_dialled = CampaignContact.objects.filter(campaign=campaign, attempts=0).count()
    cluster.kill("worker-1")
    timeline["worker-1 killed"] = time.monotonic() - started
    assert not_yet_dialled > 0, "the campaign was dialled out before the worker was killed"

    wait_for_completed(cluster, campaign)
    timeline["completed"] = time.monotonic() - started
    sessions = CallSession.objects.filter(campaign=campaign)
    ended = conversation_end_reasons([session.pk for session in sessions])
    print(  # what CI's log shows of the run (pytest -s, or a failure)
        f"timeline (s): { {what: round(at, 1) for what, at in timeline.items()} }\n"
        f"outcomes: {Counter(sessions.values_list('outcome', flat=True))}\n"
        f"conversations ended: {Counter(ended.values())}\n"
        f"streams per web process: {Counter(served_by(campaign).values())}",
        file=sys.stderr,
    )

    # Nobody rung twice, nobody left out: dialling went on after the worker was killed.
    assert_nobody_rung_twice(cluster, campaign)
    # No session lost: each ended, with its outcome applied to its contact.
    assert_every_session_ended(campaign)
    # The killed process's calls ended with a recorded reason: the carrier's end (its status
    # callback reached the other web process) and the abandoned-conversation sweep's close.
    reasons = conversation_end_reasons(in_flight)
    assert reasons == dict.fromkeys(in_flight, "conversation_lost"), reasons
    lost = CallSession.objects.filter(pk__in=in_flight)
    assert set(lost.values_list("end_reason", flat=True)) == {"conversation_lost"}
    assert all(served_by(campaign)[session] == killed_server for session in in_flight)
    # The rest went on: the calls the other process held then ended by themselves.
    others = conversation_end_reasons(live_on_survivor)
    assert sorted(others) == sorted(live_on_survivor)
    assert "conversation_lost" not in others.values(), others
    # The killed one was restarted (a new process, which the load balancer uses again).
    assert cluster.pid(victim) != pid_of(killed_server)
