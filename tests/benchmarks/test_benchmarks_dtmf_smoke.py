"""`benchmarks.dtmf` runs, and our own tones pass every line condition it tries."""

from __future__ import annotations

from benchmarks.dtmf import detection_table, talk_off


def test_the_dtmf_benchmark_runs_and_our_tones_are_always_heard():
    rows = detection_table(trials=2)

    assert len(rows) == 3 * 4 * 4
    assert all(share == 1.0 for tone_ms, _level, _snr, share, _wrong in rows if tone_ms == 100)
    assert all(wrong == 0 for *_rest, wrong in rows)
    assert talk_off(use_piper=False)[2] == 0
