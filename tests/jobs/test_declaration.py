"""Jobs, cron and webhooks in the declaration: checked with their place in the file, and
their tables migrated like the collections'."""

from __future__ import annotations

import json

from click.testing import CliRunner

from backforge.cli import app
from backforge.database import create_database_engine
from backforge.schema.migrations import auto_apply, pending_changes
from backforge.schema.migrations.diff import is_internal_table
from backforge.spec import load_dict

from .conftest import COLLECTIONS


def test_check_names_each_problem_with_its_line(tmp_path):
    (tmp_path / "job_hooks.py").write_text("def beat(ctx): ...\n")
    declaration = tmp_path / "shop.yaml"
    declaration.write_text(
        "name: shop\n"
        "collections:\n"
        "  orders:\n"
        "    fields: {note: {type: text}}\n"
        "hooks: job_hooks.py\n"
        "jobs:\n"
        "  receipt: {on: ordrs.create, handler: job_hooks.beat}\n"
        "cron:\n"
        "  nightly: {schedule: '0 3 * *', handler: elsewhere.beat}\n"
        "webhooks:\n"
        "  paid: {on: orders.update, url_env: PAID_URL, secret_env: PAID_SECRET, url: x}\n"
    )
    result = CliRunner().invoke(app, ["check", str(declaration)])
    assert result.exit_code == 1
    output = result.output
    assert "shop.yaml:11" in output and "webhooks.paid" in output  # url in the file: refused
    declaration.write_text(declaration.read_text().replace(", url: x", ""))
    output = CliRunner().invoke(app, ["check", str(declaration)]).output
    assert "shop.yaml:7" in output and "unknown collection 'ordrs'" in output
    assert "did you mean 'orders'" in output
    assert "cron.nightly.schedule" in output and "cron.nightly.handler" in output


def test_job_tables_are_planned_and_applied_like_collections(tmp_path):
    spec = load_dict(
        {
            "name": "shop",
            "collections": COLLECTIONS,
            "hooks": "job_hooks.py",
            "cron": {"beat": {"schedule": "every 5s", "handler": "job_hooks.beat"}},
        }
    )
    assert not is_internal_table("_bf_jobs_outbox")
    engine = create_database_engine(f"sqlite:///{tmp_path / 'shop.db'}")
    described = json.dumps([str(change) for change in pending_changes(engine, spec)])
    for table in ("outbox", "done", "cron_ticks", "webhook_deliveries"):
        assert f"_bf_jobs_{table}" in described
    auto_apply(engine, spec)
    assert pending_changes(engine, spec) == []
    engine.dispose()
