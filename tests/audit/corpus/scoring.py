"""How well an audit did on a corpus app: the findings it was expected to report, matched by
finding id, OWASP category and operation (never by free text), and recall by category."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from backforge.audit.findings import Severity
from backforge.audit.runner import AuditReport

Expected = tuple[str, str, str]  # (finding id, category, operation)


@dataclass
class Score:
    expected: dict[str, list[Expected]]  # flaw -> the findings it must cause
    found: set[Expected]

    def reported(self, flaw: str) -> bool:
        return all(finding in self.found for finding in self.expected[flaw])

    @property
    def missed(self) -> list[str]:
        return sorted(flaw for flaw in self.expected if not self.reported(flaw))

    @property
    def recall(self) -> float:
        return 1 - len(self.missed) / len(self.expected)

    def by_category(self) -> dict[str, tuple[int, int]]:
        """Category -> (flaws reported, flaws planted)."""
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for flaw, findings in self.expected.items():
            for category in {category for _, category, _ in findings}:
                counts[category][0] += self.reported(flaw)
                counts[category][1] += 1
        return {category: (hit, total) for category, (hit, total) in sorted(counts.items())}


def score(report: AuditReport, expected: dict[str, list[Expected]]) -> Score:
    return Score(expected, {(f.id, f.category, f.operation) for f in report.findings})


def false_positives(report: AuditReport) -> list[Expected]:
    """Findings on a secure twin (informational notes aside)."""
    return sorted(
        (f.id, f.category, f.operation) for f in report.findings if f.severity > Severity.INFO
    )
