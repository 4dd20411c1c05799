"""File fields in a declaration: sizes in the units people write, and each mistake named with
its file, line and what would be valid."""

from __future__ import annotations

import textwrap

import pytest

from backforge.spec import DeclarationError, load_text


def _field(options: str):
    text = textwrap.dedent(f"""\
        name: album
        collections:
          photos:
            fields:
              image: {{type: file, {options}}}
        """)
    return load_text(text, "album.yaml").collections["photos"].fields["image"]


def _problems(options: str) -> list[str]:
    with pytest.raises(DeclarationError) as caught:
        _field(options)
    return [p.format("album.yaml") for p in caught.value.problems]


@pytest.mark.parametrize(
    ("written", "size"),
    [("5000", 5000), ("'5MB'", 5_000_000), ("'2 MiB'", 2 * 1024 * 1024), ("'1.5kb'", 1500)],
)
def test_sizes_read_in_decimal_and_binary_units(written, size):
    assert _field(f"max_size: {written}").max_size == size


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ("max_size: '5 parsecs'", "is not a size such as 5000000, '5MB' or '5MiB'"),
        ("accept: [png]", "'png' is not a media type such as image/png"),
        ("thumbs: [100x, '0x0']", "'0x0' is not a thumbnail size"),
        ("max_files: 3", "max_files applies with multiple: true"),
        ("unique: true", "a file field has no index"),
        ("default: a.png", "a file field has no default"),
    ],
)
def test_mistakes_are_named_where_they_are(options, expected):
    problems = _problems(options)
    assert any(expected in p for p in problems), problems
    assert all(p.startswith("album.yaml:5:") for p in problems), problems


def test_file_options_belong_to_file_fields():
    with pytest.raises(DeclarationError) as caught:
        text = "name: a\ncollections:\n  p:\n    fields:\n      t: {type: text, accept: [a/b]}\n"
        load_text(text, "album.yaml")
    (problem,) = [p.format("album.yaml") for p in caught.value.problems]
    assert "'accept' does not apply to a text field (it applies to: file)" in problem
