"""The command: check's exit code and messages, init, openapi and schema output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

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


JOB_DECLARATION = (
    "name: app\n"
    "hooks: app_hooks.py\n"
    "collections:\n"
    "  notes: {fields: {title: {type: text}}}\n"
    "jobs:\n"
    "  ping: {on: notes.create, handler: app_hooks.ping}\n"
)


def test_check_imports_the_hooks_file_and_names_what_it_lacks(tmp_path):
    """What only the hooks file can get wrong is said by `check` (and so before `serve`
    starts a server), with the declaration's line, not as a traceback from the server."""
    declaration = tmp_path / "app.yaml"
    declaration.write_text(
        JOB_DECLARATION + "cron:\n  nightly: {schedule: '0 3 * * *', handler: app_hooks.nightly}\n"
    )
    missing = runner.invoke(app, ["check", str(declaration)])
    assert missing.exit_code == 1 and f"{declaration}:2:" in missing.output
    assert "no such file" in missing.output and "Traceback" not in missing.output

    hooks = tmp_path / "app_hooks.py"
    hooks.write_text("import os\n\nimport no_such_module_here\n")
    broken = runner.invoke(app, ["check", str(declaration)])
    assert broken.exit_code == 1 and "app_hooks.py:3 failed to import" in broken.output
    assert "no_such_module_here" in broken.output
    hooks.write_text("def ping(ctx):\n    return (\n")
    unparsable = runner.invoke(app, ["check", str(declaration)])
    assert "app_hooks.py:2 failed to import" in unparsable.output

    hooks.write_text(
        "from backforge.hooks import Hooks\n"
        "hooks = Hooks()\n"
        "@hooks.before_create('notse')\n"
        "def typo(ctx): ...\n"
        "def ping(ctx): ...\n"
    )
    lacking = runner.invoke(app, ["check", str(declaration)])
    assert lacking.exit_code == 1
    assert f"{declaration}:8:" in lacking.output and "no function 'nightly'" in lacking.output
    assert "unknown collection 'notse' — did you mean 'notes'?" in lacking.output
    assert "'ping'" not in lacking.output

    hooks.write_text(hooks.read_text().replace("'notse'", "'notes'") + "def nightly(ctx): ...\n")
    assert runner.invoke(app, ["check", str(declaration)]).exit_code == 0


def test_a_feature_whose_extra_is_missing_names_the_pip_command(tmp_path, monkeypatch):
    """The core install serves SQLite; a declaration using jobs or OAuth, or a PostgreSQL URL,
    on an install without the extra is told which extra to add (a module that cannot be found
    stands in for an extra that is not installed)."""
    from backforge import extras
    from backforge.database import create_database_engine

    monkeypatch.setitem(extras.EXTRAS, "jobs", ("no_such_module_for_jobs",))
    monkeypatch.setitem(extras.EXTRAS, "postgres", ("no_such_module_for_postgres",))
    (tmp_path / "app_hooks.py").write_text("def ping(ctx): ...\n")
    declaration = tmp_path / "app.yaml"
    declaration.write_text(JOB_DECLARATION)
    result = runner.invoke(app, ["check", str(declaration)])
    assert result.exit_code == 1
    assert f"{declaration}:5:" in result.output
    assert "pip install 'backforge[jobs]'" in result.output
    with pytest.raises(extras.MissingExtra, match=r"backforge\[postgres\]"):
        create_database_engine("postgresql://127.0.0.1/test")
    assert not extras.missing("oauth")  # installed here: nothing to say


def test_check_says_how_collections_that_refer_to_each_other_are_created(tmp_path):
    declaration = tmp_path / "cyc.yaml"
    declaration.write_text(
        "name: cyc\n"
        "collections:\n"
        "  users: {auth: true, fields: {team: {type: relation, to: teams}}}\n"
        "  teams: {fields: {owner: {type: relation, to: users}, up: {type: relation, to: teams}}}\n"
        "  notes: {fields: {team: {type: relation, to: teams}}}\n"
    )
    result = runner.invoke(app, ["check", str(declaration)])
    assert result.exit_code == 0, result.output
    note = next(line for line in result.output.splitlines() if line.startswith("note:"))
    # The cycle only: a self-reference and a plain relation are created inline.
    assert "teams.owner, users.team" in note and "teams.up" not in note
    assert "notes.team" not in note


def test_check_reports_the_declaration_and_the_hooks_file_at_once(tmp_path):
    declaration = tmp_path / "app.yaml"
    declaration.write_text(
        JOB_DECLARATION.replace("handler: app_hooks.ping}", "handler: app_hooks.ping, when: x = 1}")
    )
    (tmp_path / "app_hooks.py").write_text("def other(ctx): ...\n")
    result = runner.invoke(app, ["check", str(declaration)])
    assert result.exit_code == 1
    assert "jobs.ping.when: unknown field 'x'" in result.output
    assert "no function 'ping'" in result.output and "2 error(s)" in result.output


def test_required_relations_no_first_record_can_satisfy_are_warned(tmp_path):
    declaration = tmp_path / "cyc.yaml"
    declaration.write_text(
        "name: cyc\n"
        "collections:\n"
        "  users: {auth: true, fields: {team: {type: relation, to: teams, required: true}}}\n"
        "  teams:\n"
        "    fields:\n"
        "      owner: {type: relation, to: users, required: true}\n"
        "      up: {type: relation, to: teams, required: true}\n"
        "  notes: {fields: {team: {type: relation, to: teams, required: true}}}\n"
    )
    output = runner.invoke(app, ["check", str(declaration)]).output
    assert f"{declaration}:3:" in output and "no record of users can be created first" in output
    assert f"{declaration}:6:" in output and "no record of teams can be created first" in output
    assert f"{declaration}:7:" in output and "points to teams itself" in output
    assert "of notes" not in output  # notes come after teams: fine
    declaration.write_text(
        declaration.read_text().replace("teams, required: true}}}\n  teams", "teams}}}\n  teams", 1)
    )
    output = runner.invoke(app, ["check", str(declaration)]).output
    assert "created first" not in output  # users.team optional: the cycle can start


def test_files_prune_lists_then_deletes_what_no_record_holds(tmp_path):
    from backforge import App

    declaration = tmp_path / "album.yaml"
    declaration.write_text(
        "name: album\ncollections:\n  photos:\n    fields:\n      image: {type: file}\n"
    )
    App.from_file(declaration).store.metadata.create_all(App.from_file(declaration).engine)
    orphan = tmp_path / "album-files" / "photos" / "lost_abcdefghij.png"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"\x89PNG\r\n\x1a\n")
    listed = runner.invoke(app, ["files", "prune", str(declaration), "--older-than", "0"])
    assert listed.exit_code == 0, listed.output
    assert "photos/lost_abcdefghij.png" in listed.output and orphan.exists()
    deleted = runner.invoke(
        app, ["files", "prune", str(declaration), "--older-than", "0", "--delete"]
    )
    assert deleted.exit_code == 0 and "deleted 1 files" in deleted.output
    assert not orphan.exists()
