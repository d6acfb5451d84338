"""The cost benchmark's report and measurements (the calls themselves run in
`python -m benchmarks.costs`: too heavy for the suite)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from benchmarks.costs import accounting_cpu_ms, meter_overhead_us, report
from sessions.costs import session_cost_record
from sessions.factories import CallSessionFactory


def test_the_meter_overhead_is_measured_per_job() -> None:
    assert 0 <= meter_overhead_us(jobs=2000) < 1000


@pytest.mark.django_db
def test_it_reports_cost_per_outcome_and_prices_again_idempotently() -> None:
    answered = CallSessionFactory(
        outcome="interested", duration_seconds=61, answered_at=timezone.now()
    )
    missed = CallSessionFactory(outcome="no_answer", duration_seconds=0)
    for session in (answered, missed):
        session_cost_record(session_id=session.pk)

    lines = report([answered.pk, missed.pk])
    pricing_ms, writing_ms = accounting_cpu_ms([answered.pk, missed.pk])

    assert "| interested | 1 | 0.0280 | 0.0280 | 0.00 | 0.0 | 0 |" in lines
    assert "| no_answer | 1 | 0.0000 | 0.0000 | 0.00 | 0.0 | 0 |" in lines
    assert lines[-1].startswith("cost per success (interested, transferred; 1 of 2 calls): 0.0280")
    assert pricing_ms > 0
    assert writing_ms >= 0
    answered.refresh_from_db()
    assert str(answered.cost) == "0.0280"
