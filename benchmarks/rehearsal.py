"""Campaign rehearsal (issue 19 part 2): its prediction against an actual simulator run.

`uv run python -m benchmarks.rehearsal [--quick]`

One campaign over simulator persona numbers (several callees per persona, New York area codes)
is run twice:

* actually: the real dispatcher (`dispatch_due`), the real placement through the Twilio SDK at
  the Twilio simulator, signed status callbacks to our ASGI app (uvicorn in a thread), and the
  live pipeline on every answered call (local Whisper and Piper, the scripted agent), retries
  reached by moving a frozen, ticking clock past the retry delays (as the end-to-end test does);
* rehearsed: `POST /campaigns/:id/rehearsals`' service with the same persona mix and size.

Figures: each outcome's share of the callees (their last outcome) in both, the largest absolute
difference and the total variation distance between the two mixes, the connect rate of both,
and the time each took; then how long a rehearsal of 1 000 callees takes (the "seconds" claim).
"""

from __future__ import annotations

import argparse
import importlib
import time
from collections import Counter
from datetime import timedelta
from typing import Any

from benchmarks.support import create_test_database, destroy_test_database

# persona digits → callees with that persona (each on its own area code).
PEOPLE = {
    "04": 3,  # interested
    "05": 1,  # objection-then-interested
    "06": 2,  # not-interested
    "07": 1,  # callback-request
    "08": 1,  # remove-me
    "00": 2,  # no-answer
    "01": 1,  # busy
    "03": 2,  # voicemail
    "09": 1,  # hangs-up
}
QUICK_PEOPLE = {"04": 1, "06": 1, "00": 1, "03": 1, "08": 1}
AREAS = ("212", "646", "917", "718", "347")
WAIT = 240.0


def _harness() -> tuple[Any, Any]:
    """The end-to-end tests' harness (simulator thread, ASGI server, the solar script),
    imported by name: the test modules are not type-checked as part of the product."""
    return (
        importlib.import_module("tests.anvil_voice.telephony.test_carrier_harness"),
        importlib.import_module("tests.sessions.live_call_support"),
    )


def _campaign(organization: Any, people: dict[str, int]) -> Any:
    from campaigns.factories import CallerIdFactory, CampaignFactory, ContactListFactory
    from campaigns.models import Contact
    from scripts.factories import ScriptFactory

    harness, live = _harness()

    contact_list: Any = ContactListFactory(organization=organization, name="Personas")
    for digits, count in people.items():
        for index in range(count):
            Contact.objects.create(
                organization=organization,
                contact_list=contact_list,
                phone_number=harness.number(digits, AREAS[index]),
                first_name=f"P{digits}{index}",
                time_zone="America/New_York",
                region="NY",
            )
    return CampaignFactory(
        organization=organization,
        contact_list=contact_list,
        caller_id=CallerIdFactory(organization=organization, phone_number=harness.CALLER),
        script=ScriptFactory(
            organization=organization, objection_responses=live.OBJECTIONS, **live.SCRIPT
        ),
        max_concurrent_calls=4,
        calls_per_second=10,
        max_attempts=2,
        retry_no_answer_minutes=1,
        retry_busy_minutes=1,
        retry_voicemail_minutes=1,
    )


def _actual_run(campaign: Any, people: dict[str, int]) -> tuple[Counter[str], float, float]:
    """The campaign on the simulator; each callee's last outcome, connect rate, seconds."""
    import time_machine
    from django.conf import settings
    from django.utils import timezone

    from campaigns import services
    from campaigns.dialling.dispatch import dispatch_due
    from campaigns.models import CampaignContact
    from sessions.models import AnsweredBy, CallSession

    harness, live = _harness()
    tuesday = importlib.import_module("tests.campaigns.conftest").TUESDAY_MORNING_NY
    AsgiServer, SimulatorThread, wait_for = (
        harness.AsgiServer,
        harness.SimulatorThread,
        harness.wait_for,
    )
    live_settings, warm_local_speech = live.live_settings, live.warm_local_speech
    warm_local_speech()
    started = time.perf_counter()
    with (
        AsgiServer() as server,
        SimulatorThread(url_rewrites=[server.stream_rewrite], speak=None) as simulator,
    ):
        live_settings(settings, simulator, server)
        settings.LIVE_CALL_CAPACITY_PER_PROCESS = 100
        settings.CAMPAIGNS_CALLER_ID_CHECK = "simulator"
        settings.CAMPAIGNS_ACCOUNT_CALLS_PER_SECOND = 50
        due = CampaignContact.objects.filter(
            campaign=campaign, state__in=["pending", "in_progress"]
        )

        def settle() -> None:
            def settled() -> bool:
                time.sleep(0.3)
                dispatch_due()
                return not CampaignContact.objects.filter(
                    campaign=campaign, state="in_progress"
                ).exists()

            wait_for(settled, WAIT, "every call of the round to end")
            while due.filter(next_attempt_at__lte=timezone.now()).exists():
                dispatch_due()
                wait_for(settled, WAIT, "every call of the round to end")

        with time_machine.travel(tuesday, tick=True) as clock:
            services.campaign_start(campaign=campaign, actor=services.Actor.named("bench"))
            for _ in range(campaign.max_attempts + 3):
                settle()
                if not due.exists():
                    break
                clock.shift(timedelta(minutes=2))
    seconds = time.perf_counter() - started
    for digits in people:
        sessions = CallSession.objects.filter(campaign=campaign, to_number__endswith=f"01{digits}")
        print(
            f"actual {digits}: "
            + ", ".join(f"{s.outcome or '-'}/{s.end_reason or '-'}" for s in sessions)
        )
    finals = Counter(
        CampaignContact.objects.filter(campaign=campaign).values_list("last_outcome", flat=True)
    )
    calls = CallSession.objects.filter(campaign=campaign)
    human = calls.filter(answered_by=AnsweredBy.HUMAN).count()
    return finals, (human / calls.count() if calls.count() else 0.0), seconds


def _rehearse(campaign: Any, mix: dict[str, int], size: int) -> tuple[dict[str, Any], float]:
    from campaigns.rehearsal.models import Rehearsal
    from campaigns.rehearsal.services import rehearsal_create

    started = time.perf_counter()
    rehearsal = rehearsal_create(campaign=campaign, size=size, mix=mix, seed=1)
    seconds = time.perf_counter() - started
    rehearsal = Rehearsal.objects.get(pk=rehearsal.pk)
    assert rehearsal.status == "completed", rehearsal.error_message
    return rehearsal.report, seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="five callees, no 1 000 run")
    args = parser.parse_args(argv)
    people = QUICK_PEOPLE if args.quick else PEOPLE
    connection = create_test_database("rehearsal-bench-")
    try:
        from anvil_voice.celery import app as celery_app
        from anvil_voice.telephony.simulator.personas import persona_for
        from benchmarks.support import bench_organization

        # Tasks run in the process that queues them (as the end-to-end tests run them).
        celery_app.conf.task_always_eager = True
        organization = bench_organization()
        campaign = _campaign(organization, people)
        size = sum(people.values())
        mix = {persona_for(f"+155501{digits}").key: count for digits, count in people.items()}
        report, rehearsal_seconds = _rehearse(campaign, mix, size)
        actual, actual_connect, actual_seconds = _actual_run(campaign, people)
        predicted = {key: value["count"] for key, value in report["outcomes"].items()}
        keys = sorted(set(predicted) | set(actual))
        print(f"callees: {size}; mix: {mix}")
        print(f"{'outcome':<22}{'predicted':>10}{'actual':>10}{'|diff|':>10}")
        differences = []
        for key in keys:
            p, a = predicted.get(key, 0) / size, actual.get(key, 0) / size
            differences.append(abs(p - a))
            print(f"{key:<22}{p:>10.3f}{a:>10.3f}{abs(p - a):>10.3f}")
        print(f"largest share difference: {max(differences):.3f} (one callee = {1 / size:.3f})")
        print(f"total variation distance: {sum(differences) / 2:.3f}")
        print(f"connect rate: predicted {report['connectRate']:.3f}, actual {actual_connect:.3f}")
        print(
            f"time: rehearsal {rehearsal_seconds:.2f} s, actual run {actual_seconds:.1f} s "
            f"(x{actual_seconds / rehearsal_seconds:.0f})"
        )
        if not args.quick:
            big = {key: 1 for key in mix}
            big_report, big_seconds = _rehearse(campaign, big, 1000)
            print(
                f"1000 callees: {big_seconds:.2f} s for {big_report['calls']['placed']} calls, "
                f"{big_report['duration']['wallClockDays']} simulated days"
            )
    finally:
        destroy_test_database(connection)


if __name__ == "__main__":
    main()
