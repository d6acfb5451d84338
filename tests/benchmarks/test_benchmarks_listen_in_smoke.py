"""Smoke test of `benchmarks.listen_in`: a few frames each way run and the figures come out."""

from __future__ import annotations

from benchmarks import listen_in


async def test_the_listen_in_benchmark_runs_and_reports(capsys):
    await listen_in.run(frames=200, rounds=1)

    printed = capsys.readouterr().out
    assert "baseline: parse a Twilio media message" in printed
    assert "nobody listening" in printed
    assert "one listener" in printed
