"""The sessions list benchmark still runs end to end (a few hundred rows, one round)."""

from __future__ import annotations

import pytest

from benchmarks import sessions_list
from sessions.models import CallSession, TranscriptTurn


@pytest.mark.django_db
def test_the_sessions_benchmark_measures_every_case_on_a_small_load() -> None:
    lines: list[str] = []

    figures = sessions_list.run(
        rows=300, requests=1, pages=2, explain=False, campaigns=2, report=lines.append
    )

    # Two organizations, interleaved; the benchmarked one holds 300 of 360 rows (± sampling).
    assert figures["total"] == CallSession.objects.count() == 360
    assert 250 < figures["rows"] < 340
    assert figures["turns"] == TranscriptTurn.objects.count() > 0
    cases = {case["name"]: case for case in figures["cases"]}
    assert len(cases) == len(lines) - 1 == 8
    # Scoping: the unfiltered list counts the benchmarked organization's rows only.
    assert cases["no filter"]["total"] == figures["rows"]
    assert cases["no filter"]["pages"] == 2
    assert 0 < cases["outcome"]["total"] < figures["rows"]
    assert cases[sessions_list.FIRST_PAGE_OLD_RANGE]["pages"] == 1
    for case in cases.values():
        assert case["requests"] == case["pages"]
        assert case["api_p50"] > 0
        assert case["sql_p50"] > 0
        assert case["api_p95"] >= case["api_p50"]
