"""A client of the OpenAI-compatible chat completions API (hosted services and local servers
such as llama.cpp, Ollama or vLLM alike), configured from the environment."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

BASE_URL_VARIABLE = "BACKFORGE_LLM_BASE_URL"
MODEL_VARIABLE = "BACKFORGE_LLM_MODEL"
KEY_VARIABLES = ("BACKFORGE_LLM_API_KEY", "OPENAI_API_KEY")
TIMEOUT = 300.0
HOW_TO_CONFIGURE = (
    f"set {BASE_URL_VARIABLE} (an OpenAI-compatible API, e.g. http://127.0.0.1:11434/v1 for "
    f"Ollama or https://api.openai.com/v1) and {MODEL_VARIABLE}, and the key, if the server "
    f"needs one, in {KEY_VARIABLES[0]}"
)


class ChatError(RuntimeError):
    """The model could not be reached or did not answer; the message says what happened."""


@dataclass
class ChatModel:
    base_url: str
    model: str
    api_key: str | None = None
    # Cleared when the server refuses a JSON Schema response format: plain JSON is asked then.
    schema_supported: bool = True

    @classmethod
    def from_environment(cls) -> ChatModel | None:
        base_url, model = os.environ.get(BASE_URL_VARIABLE), os.environ.get(MODEL_VARIABLE)
        if not base_url and not model:
            return None
        if not base_url or not model:
            missing = BASE_URL_VARIABLE if not base_url else MODEL_VARIABLE
            raise ChatError(f"{missing} is not set: {HOW_TO_CONFIGURE}")
        key = next((os.environ[v] for v in KEY_VARIABLES if os.environ.get(v)), None)
        return cls(base_url.rstrip("/"), model, key)

    def complete(self, messages: list[dict[str, str]], schema: dict[str, Any]) -> str:
        """The model's answer to `messages`, asked to follow `schema` where the server can."""
        if self.schema_supported:
            try:
                return self._post(messages, _schema_format(schema))
            except _FormatRefused:
                self.schema_supported = False
        return self._post(messages, {"type": "json_object"})

    def _post(self, messages: list[dict[str, str]], response_format: dict[str, Any]) -> str:
        body = {"model": self.model, "messages": messages, "response_format": response_format}
        request = urllib.request.Request(  # noqa: S310 -- the URL the user configured
            self.base_url + "/chat/completions",
            data=json.dumps(body).encode(),
            headers={
                "Content-Type": "application/json",
                **({"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}),
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:  # noqa: S310
                document = json.load(answer)
        except urllib.error.HTTPError as exc:
            detail = exc.read(2000).decode(errors="replace")
            if exc.code in (400, 422) and "response_format" in body and "json_schema" in detail:
                raise _FormatRefused from None
            raise ChatError(f"the model's server answered {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ChatError(
                f"the model's server at {self.base_url} did not answer: {exc}"
            ) from None
        try:
            message = document["choices"][0]["message"]
        except (KeyError, IndexError, TypeError):
            raise ChatError("the model's server answered without a message") from None
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str):
            refusal = message.get("refusal") if isinstance(message, dict) else None
            raise ChatError(f"the model answered no text{f': {refusal}' if refusal else ''}")
        return content


class _FormatRefused(Exception):
    pass


def _schema_format(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "json_schema",
        "json_schema": {"name": "backforge_declaration", "schema": schema, "strict": False},
    }
