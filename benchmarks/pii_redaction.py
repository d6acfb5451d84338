"""PII redaction on the labelled set (issue 15 item 17): per-kind recall and precision, and how
many chatter utterances (numbers that are not private: phone numbers, times, prices, order
numbers) lose words. Prints a Markdown table for docs/resilience.md.

    .venv/bin/python -m benchmarks.pii_redaction [--verbose]
"""

from __future__ import annotations

import sys
from pathlib import Path

from anvil_voice.privacy.evaluation import evaluate, load_labelled

DATA = Path(__file__).resolve().parent.parent / "tests/anvil_voice/privacy/data"
# The set the detector was written against, and a second one written afterwards.
LABELLED_SETS = {
    "development": DATA / "pii_development_set.jsonl",
    "second set": DATA / "pii_second_set.jsonl",
}


def main(argv: list[str]) -> None:
    everything = []
    for name, path in LABELLED_SETS.items():
        rows = load_labelled(path)
        everything.extend(rows)
        report = evaluate(rows)
        print(f"\n{name}: {len(rows)} utterances ({report.chatter} chatter)")
        print(report.table())
        if "--verbose" in argv:
            for miss in report.misses:
                print("missed:", miss)
            for text in report.false_redactions:
                print("false redaction:", text)
    report = evaluate(everything)
    print(f"\nboth: {len(everything)} utterances ({report.chatter} chatter)")
    print(report.table())


if __name__ == "__main__":
    main(sys.argv[1:])
