"""Smoke test of `benchmarks.transfer`: one call of each kind runs and the figures come out."""

from __future__ import annotations

from benchmarks import transfer


async def test_the_transfer_benchmark_runs_and_reports(capsys):
    await transfer.run(calls=1, time_scale=0.01)

    printed = capsys.readouterr().out
    assert "transfer <Dial>" in printed
    assert "transfer / baseline (median):" in printed
    assert "warm transfer (conference)" in printed
    assert "warm / baseline (median):" in printed
