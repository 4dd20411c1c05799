"""The command: check's exit code and messages, init, openapi and schema output."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from backforge.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()


def test_check_accepts_the_examples():
    for name in ("shop.yaml", "blog.yaml"):
        result = runner.invoke(app, ["check", str(EXAMPLES / name)])
        assert result.exit_code == 0, result.output
        assert "ok" in result.output


def test_check_fails_with_file_line_and_path(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: x\ncollections:\n  a:\n    fields:\n      b: {type: money}\n"
        "    rules: {list: 'b = 1 &&'}\n"
    )
    result = runner.invoke(app, ["check", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:5:" in result.output and "did you mean 'decimal'" in result.output


def test_check_reports_rule_errors_with_position(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: x\ncollections:\n  a:\n    fields:\n      b: {type: int}\n"
        "    rules: {list: 'c = 1'}\n"
    )
    result = runner.invoke(app, ["check", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:6:" in result.output and "unknown field 'c'" in result.output


def test_init_writes_a_declaration_that_checks(tmp_path):
    result = runner.invoke(app, ["init", str(tmp_path / "proj")])
    assert result.exit_code == 0, result.output
    created = tmp_path / "proj" / "backforge.yaml"
    assert runner.invoke(app, ["check", str(created)]).exit_code == 0
    assert "\nname: proj\n" in created.read_text()  # named after its folder
    again = runner.invoke(app, ["init", str(tmp_path / "proj")])
    assert again.exit_code == 1 and "already exists" in again.output


def test_openapi_and_schema_print_json(tmp_path):
    result = runner.invoke(app, ["openapi", str(EXAMPLES / "shop.yaml")])
    assert result.exit_code == 0
    document = json.loads(result.output)
    assert document["openapi"] == "3.1.0" and "/api/products/{id}" in document["paths"]
    result = runner.invoke(app, ["schema"])
    assert json.loads(result.output)["title"] == "backforge declaration"
