"""Smoke test of `benchmarks.turn_taking`: its labelled cases run through a detector and the
figures come out (the energy baseline only: the neural run is the benchmark's own business)."""

from __future__ import annotations

from benchmarks import turn_taking
from sessions.pipeline.turn_detection import EnergyTurnDetector


def test_the_labelled_cases_run_through_the_baseline_and_are_summarised(capsys):
    cases = turn_taking.build_cases(quick=True)
    kinds = {case.kind for case in cases}
    assert kinds == {"backchannel", "noise", "interruption", "pause"}
    picked = [next(case for case in cases if case.kind == kind) for kind in sorted(kinds)]

    outcomes = [turn_taking.run_case(c, EnergyTurnDetector(), words=False) for c in picked]
    turn_taking.summarise("energy", picked, outcomes)

    interruption = next(
        o for c, o in zip(picked, outcomes, strict=True) if c.kind == "interruption"
    )
    assert interruption.barge_in_ms is not None
    printed = capsys.readouterr().out
    assert "false barge-in" in printed
    assert "premature end of turn" in printed
