"""Measuring the detector on a labelled set: per-kind recall, precision, and how often
ordinary call chatter loses words it should keep (`benchmarks.pii_redaction` prints it)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anvil_voice.privacy.redaction import PiiKind, Span, find_spans


@dataclass(frozen=True, slots=True)
class Labelled:
    text: str
    context: str
    pii: list[Span]


def load_labelled(path: Path) -> list[Labelled]:
    """JSON lines: {"text", "context"?, "pii": [{"kind", "text"}]}; a label's text is a
    substring of the utterance (its first occurrence)."""
    rows: list[Labelled] = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        row: dict[str, Any] = json.loads(line)
        text = row["text"]
        spans = []
        for label in row["pii"]:
            start = text.index(label["text"])
            spans.append(Span(PiiKind(label["kind"]), start, start + len(label["text"])))
        rows.append(Labelled(text=text, context=row.get("context", ""), pii=spans))
    return rows


@dataclass
class KindFigures:
    labelled: int = 0
    caught: int = 0  # covered by a redaction of the same kind
    redactions: int = 0
    correct: int = 0  # redactions that cover a labelled span of their kind

    @property
    def recall(self) -> float:
        return self.caught / self.labelled if self.labelled else 1.0

    @property
    def precision(self) -> float:
        return self.correct / self.redactions if self.redactions else 1.0


@dataclass
class Report:
    kinds: dict[PiiKind, KindFigures] = field(
        default_factory=lambda: {kind: KindFigures() for kind in PiiKind}
    )
    chatter: int = 0
    chatter_redacted: int = 0
    misses: list[str] = field(default_factory=list)
    false_redactions: list[str] = field(default_factory=list)

    @property
    def false_redaction_rate(self) -> float:
        return self.chatter_redacted / self.chatter if self.chatter else 0.0

    def table(self) -> str:
        lines = [
            "| kind | labelled | recall | precision |",
            "|---|---|---|---|",
        ]
        for kind, figures in self.kinds.items():
            lines.append(
                f"| {kind.value} | {figures.labelled} | {figures.recall:.3f} "
                f"| {figures.precision:.3f} |"
            )
        lines += [
            "",
            "| chatter utterances | with a false redaction | false-redaction rate |",
            "|---|---|---|",
            f"| {self.chatter} | {self.chatter_redacted} | {self.false_redaction_rate:.1%} |",
        ]
        return "\n".join(lines)


def _covers(span: Span, label: Span, text: str) -> bool:
    """The redaction hides the label's characters (surrounding spaces do not matter)."""
    inner = text[label.start : label.end].strip()
    offset = text.index(inner, label.start)
    return span.start <= offset and span.end >= offset + len(inner)


def evaluate(rows: Iterable[Labelled]) -> Report:
    report = Report()
    for row in rows:
        found = find_spans(row.text, context=row.context)
        if not row.pii:
            report.chatter += 1
            if found:
                report.chatter_redacted += 1
                report.false_redactions.append(row.text)
        for label in row.pii:
            figures = report.kinds[label.kind]
            figures.labelled += 1
            if any(s.kind is label.kind and _covers(s, label, row.text) for s in found):
                figures.caught += 1
            else:
                report.misses.append(f"{label.kind.value}: {row.text}")
        for span in found:
            figures = report.kinds[span.kind]
            figures.redactions += 1
            if any(
                label.kind is span.kind and span.start < label.end and label.start < span.end
                for label in row.pii
            ):
                figures.correct += 1
    return report
