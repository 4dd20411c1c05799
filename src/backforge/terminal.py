"""What the command prints: coloured words (plain when not on a terminal) and small tables."""

from __future__ import annotations

from collections.abc import Sequence

import click


def say(text: str = "", *, err: bool = False) -> None:
    click.echo(text, err=err)


def green(text: str) -> str:
    return click.style(text, fg="green")


def red(text: str) -> str:
    return click.style(text, fg="red")


def yellow(text: str) -> str:
    return click.style(text, fg="yellow")


def bold(text: str) -> str:
    return click.style(text, bold=True)


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns under a title; cells may carry colour (measured without it)."""
    lines = [list(headers), *(list(row) for row in rows)]
    widths = [max(len(click.unstyle(line[i])) for line in lines) for i in range(len(headers))]

    def render(cells: list[str]) -> str:
        padded = (c + " " * (w - len(click.unstyle(c))) for c, w in zip(cells, widths, strict=True))
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([bold(title), render(lines[0]), rule, *(render(row) for row in lines[1:])])
