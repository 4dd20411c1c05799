"""Problems found in a declaration, each pointing at file, line and key path."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    path: Path
    message: str
    line: int | None = None
    column: int | None = None
    severity: str = "error"  # "error" or "warning"

    @property
    def dotted_path(self) -> str:
        return ".".join(str(p) for p in self.path) or "(root)"

    def format(self, filename: str) -> str:
        where = filename
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.severity}: {self.dotted_path}: {self.message}"


class DeclarationError(Exception):
    """The declaration cannot be used; carries every problem found, not only the first."""

    def __init__(self, filename: str, problems: Sequence[Problem]):
        self.filename = filename
        self.problems = list(problems)
        super().__init__("\n".join(p.format(filename) for p in self.problems))


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ' — did you mean 'x'?' suffix, or '' when nothing is close."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" — did you mean '{close[0]}'?" if close else ""
