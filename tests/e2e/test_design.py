"""`backforge design` against a local OpenAI-compatible HTTP server started here, which answers
from a script. Honest about what it tests: the loop (what is sent, how errors come back, when it
stops, that only a valid declaration is written), not a model."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from backforge.checks import load_checked
from backforge.cli import app

VALID = {
    "name": "tracker",
    "collections": {
        "members": {
            "auth": {"signup": "open", "login": ["email"]},
            "fields": {"name": {"type": "text", "required": True, "max_length": 80}},
            "rules": {"view": "id = auth.id", "update": "id = auth.id"},
        },
        "tasks": {
            "fields": {
                "title": {"type": "text", "required": True, "max_length": 200},
                "owner": {
                    "type": "relation",
                    "to": "members",
                    "required": True,
                    "default": "auth.id",
                    "readonly": True,
                },
            },
            "indexes": [["owner", "created"]],
            "rules": {
                "list": "owner = auth.id",
                "view": "owner = auth.id",
                "create": 'auth.collection = "members"',
                "update": "owner = auth.id",
                "delete": "owner = auth.id",
            },
        },
    },
}
# A wrong field type and a rule naming a field that does not exist.
BROKEN_TYPE = json.loads(
    json.dumps(VALID).replace(
        '"type": "text", "required": true, "max_length": 200',
        '"type": "string", "required": true, "max_length": 200',
    )
)
BROKEN_RULE = json.loads(
    json.dumps(VALID).replace('"update": "owner = auth.id"', '"update": "ownr = auth.id"')
)


class ScriptedModel:
    """An OpenAI-compatible /chat/completions on 127.0.0.1 answering the script in order."""

    def __init__(self, answers: list[str | None], refuse_json_schema: bool = False):
        self.answers = list(answers)
        self.requests: list[dict] = []
        self.refuse_json_schema = refuse_json_schema
        model = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                model.requests.append(
                    {"path": self.path, "auth": self.headers.get("Authorization"), **body}
                )
                if model.refuse_json_schema and body["response_format"]["type"] == "json_schema":
                    self._answer(
                        400, {"error": {"message": "response_format json_schema is not supported"}}
                    )
                    return
                content = model.answers.pop(0)
                self._answer(
                    200, {"choices": [{"message": {"role": "assistant", "content": content}}]}
                )

            def _answer(self, status: int, document: dict) -> None:
                data = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted(monkeypatch) -> Iterator:
    models: list[ScriptedModel] = []

    def start(answers: list[str | None], **options) -> ScriptedModel:
        model = ScriptedModel(answers, **options)
        models.append(model)
        monkeypatch.setenv("BACKFORGE_LLM_BASE_URL", model.url)
        monkeypatch.setenv("BACKFORGE_LLM_MODEL", "scripted")
        monkeypatch.setenv("BACKFORGE_LLM_API_KEY", "key-1")
        return model

    yield start
    for model in models:
        model.close()


def _design(tmp_path: Path, *options: str, input: str | None = None):
    output = tmp_path / "backforge.yaml"
    arguments = ["design", "a", "task", "tracker", "-o", str(output), "--no-audit", *options]
    return CliRunner().invoke(app, arguments, input=input), output


def test_errors_are_fed_back_until_the_declaration_validates(scripted, tmp_path):
    model = scripted(
        [
            "```json\n" + json.dumps(BROKEN_TYPE) + "\n```",
            json.dumps(BROKEN_RULE),
            json.dumps(VALID),
        ]
    )
    result, output = _design(tmp_path, "--yes")
    assert result.exit_code == 0, result.output
    assert "round 1: 1 problem(s)" in result.output and "round 3: 0 problem(s)" in result.output
    spec, _ = load_checked(output, user_code=False)
    assert set(spec.collections) == {"members", "tasks"}
    first, second, third = model.requests
    assert first["path"] == "/v1/chat/completions" and first["auth"] == "Bearer key-1"
    assert first["response_format"]["type"] == "json_schema"
    schema = first["response_format"]["json_schema"]["schema"]
    assert "collections" in schema["properties"]
    assert first["messages"][-1] == {"role": "user", "content": "a task tracker"}
    # each repair carries the previous answer and check's errors for it
    assert second["messages"][-2]["role"] == "assistant"
    assert "unknown type 'string'" in second["messages"][-1]["content"]
    assert "unknown field 'ownr'" in third["messages"][-1]["content"]
    assert "a new database gets: create collection members" in result.output


def test_the_loop_stops_after_its_rounds_and_writes_nothing(scripted, tmp_path):
    model = scripted([json.dumps(BROKEN_RULE)] * 5)
    result, output = _design(tmp_path, "--rounds", "2", "--yes")
    assert result.exit_code == 1
    assert len(model.requests) == 2
    assert "no valid declaration after 2 round(s)" in result.output
    assert "unknown field 'ownr'" in result.output
    assert not output.exists()


def test_an_answer_that_is_not_a_declaration_is_sent_back(scripted, tmp_path):
    model = scripted(
        [
            "Sure! Here is your API: tasks and members.",
            json.dumps({**VALID, "hooks": "x.py"}),
            json.dumps(VALID),
        ]
    )
    result, output = _design(tmp_path, "--yes")
    assert result.exit_code == 0, result.output
    assert "not a declaration" in model.requests[1]["messages"][-1]["content"]
    assert "no hooks file" in model.requests[2]["messages"][-1]["content"]
    assert "hooks" not in output.read_text()


def test_a_server_without_json_schema_output_is_asked_for_json(scripted, tmp_path):
    model = scripted([json.dumps(VALID)], refuse_json_schema=True)
    result, output = _design(tmp_path, "--yes")
    assert result.exit_code == 0, result.output
    assert [r["response_format"]["type"] for r in model.requests] == ["json_schema", "json_object"]
    assert output.exists()


def test_the_draft_is_shown_with_its_audit_and_written_only_if_agreed(scripted, tmp_path):
    scripted([json.dumps(VALID)])
    output = tmp_path / "backforge.yaml"
    arguments = ["design", "a task tracker", "-o", str(output), "--audit"]
    result = CliRunner().invoke(app, arguments, input="n\n")
    assert result.exit_code == 0, result.output
    assert "tasks: list: owner = auth.id" in result.output
    assert "audit: " in result.output and "finding(s)" in result.output
    assert "nothing was written" in result.output and not output.exists()


def test_without_a_model_it_says_how_and_offers_the_blueprints(monkeypatch, tmp_path):
    monkeypatch.delenv("BACKFORGE_LLM_BASE_URL", raising=False)
    result, output = _design(tmp_path)
    assert result.exit_code == 1
    assert "BACKFORGE_LLM_BASE_URL" in result.output and "--blueprint" in result.output
    assert "team" in result.output and not output.exists()


def test_an_existing_file_is_never_replaced(scripted, tmp_path):
    model = scripted([json.dumps(VALID)])
    (tmp_path / "backforge.yaml").write_text("name: mine\n")
    result, output = _design(tmp_path, "--yes")
    assert result.exit_code == 1 and "already exists" in result.output
    assert output.read_text() == "name: mine\n" and model.requests == []


def test_a_yaml_answer_is_judged_like_json():
    from backforge.design.loop import judge, to_yaml

    text, problems, _ = judge("```yaml\n" + to_yaml(VALID) + "```")
    assert problems == [] and "tracker" in text
    assert judge("just: words")[1] == [
        "the answer is not a declaration: send one JSON object, nothing else"
    ]


def test_prose_around_a_fenced_answer_is_read_and_no_text_is_an_error(scripted, tmp_path):
    fenced = "Here you go:\n```json\n" + json.dumps(VALID) + "\n```\nEnjoy!"
    model = scripted([fenced])
    result, output = _design(tmp_path, "--yes")
    assert result.exit_code == 0, result.output
    assert len(model.requests) == 1 and output.exists()
    scripted([None])  # a refusal: no content
    (tmp_path / "again").mkdir()
    result, output = _design(tmp_path / "again")
    assert result.exit_code == 1 and "answered no text" in result.output
    assert not output.exists()
