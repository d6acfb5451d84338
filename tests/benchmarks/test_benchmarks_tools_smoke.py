"""Smoke test of `benchmarks.tools`: a few turns of each kind run and the figures come out."""

from __future__ import annotations

from benchmarks import tools


async def test_the_tool_overhead_benchmark_runs_and_reports(settings, capsys):
    settings.WEBHOOKS_ALLOW_HTTP_LOCALHOST = True  # the benchmark's receiver is local http

    await tools.run(turns=2)

    printed = capsys.readouterr().out
    assert "whole turn   overhead" in printed
    assert "filler spoken:" in printed
