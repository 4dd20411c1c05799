"""The project directory an agent works in: every path it names stays inside it."""

from __future__ import annotations

from pathlib import Path

from mcp.server.mcpserver.exceptions import ToolError

DEFAULT_DECLARATION = "backforge.yaml"
DECLARATION_SUFFIXES = (".yaml", ".yml")


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path(self, relative: str) -> Path:
        """`relative` inside the project (symbolic links followed), else a refusal."""
        if not relative or "\x00" in relative:
            raise ToolError("name a file inside the project directory")
        candidate = (self.root / relative).resolve()
        if not candidate.is_relative_to(self.root):
            raise ToolError(
                f"{relative!r} is outside the project directory {self.root}; "
                "backforge's tools only read and write inside it"
            )
        return candidate

    def declaration_path(self, relative: str) -> Path:
        """Where a declaration may be (existing or not): a .yaml/.yml file in the project."""
        path = self.path(relative)
        if path == self.root or path.is_dir() or path.suffix not in DECLARATION_SUFFIXES:
            raise ToolError(f"{relative!r} is not a declaration file (*.yaml or *.yml)")
        return path

    def declaration(self, relative: str) -> Path:
        """An existing declaration file inside the project."""
        path = self.declaration_path(relative)
        if not path.is_file():
            raise ToolError(
                f"no declaration at {self.relative(path)}: write one (see declaration_format) "
                "or name another file"
            )
        return path

    def relative(self, path: Path) -> str:
        return str(path.relative_to(self.root))
