"""`benchmarks.pii_redaction` prints the tables docs/resilience.md quotes."""

from __future__ import annotations

from benchmarks.pii_redaction import main


def test_it_prints_recall_per_kind_and_the_chatter_rate_for_each_set(capsys):
    main(["--verbose"])

    out = capsys.readouterr().out
    assert "development: 192 utterances (94 chatter)" in out
    assert "both: 257 utterances (129 chatter)" in out
    assert "| CARD_NUMBER | 38 | 1.000 | 1.000 |" in out
    assert "| 129 | 0 | 0.0% |" in out
