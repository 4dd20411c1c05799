"""Verification and password-reset mail over real SMTP: `backforge serve examples/shop.yaml`
sends to an aiosmtpd server on 127.0.0.1, the test reads the mail it received and completes the
flows with the tokens inside; each token works once; an unknown address gets the same answer
and no mail."""

from __future__ import annotations

import re
import socket
import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage

import httpx
import pytest

controller_module = pytest.importorskip("aiosmtpd.controller")

PASSWORD = "correct horse battery"
NEW_PASSWORD = "another horse, stapled"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Inbox:
    """An aiosmtpd handler that keeps every message it is handed."""

    def __init__(self):
        self.messages: list[EmailMessage] = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        with self.arrived:
            self.messages.append(message)
            self.arrived.notify_all()
        return "250 OK"

    def wait_for(self, to: str, subject: str, timeout: float = 20) -> EmailMessage:
        """The first message to `to` with this subject (mail leaves the server in the
        background, so it may come a moment after the HTTP answer)."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                for message in self.messages:
                    if message["To"] == to and message["Subject"] == subject:
                        return message
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no mail {subject!r} to {to} within {timeout} s")
                self.arrived.wait(left)

    def to(self, address: str) -> list[EmailMessage]:
        with self.arrived:
            return [m for m in self.messages if m["To"] == address]


@pytest.fixture
def smtp():
    inbox = Inbox()
    port = free_port()
    controller = controller_module.Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, f"smtp://127.0.0.1:{port}"
    finally:
        controller.stop()


def _body(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


# SMTP does not care which database holds the tokens: one run, on the example's default SQLite.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_verify_and_reset_through_mail_sent_over_smtp(make_server, smtp):
    inbox, smtp_url = smtp
    server = make_server("shop.yaml")
    server.environment.update(
        {
            "BACKFORGE_SMTP_URL": smtp_url,
            "BACKFORGE_MAIL_FROM": "shop@example.com",
            "BACKFORGE_PUBLIC_URL": server.url,
            "BACKFORGE_JWT_SECRET": "m" * 40,
            "BACKFORGE_RATE_LIMITS__AUTH": "1000/minute",
        }
    )
    server.start("--dev")
    base = f"{server.url}/api/auth/customers"
    with httpx.Client(timeout=15) as client:
        signed_up = client.post(
            f"{base}/signup", json={"email": "ann@example.com", "password": PASSWORD, "name": "Ann"}
        )
        assert signed_up.status_code == 201, signed_up.text
        assert signed_up.json()["record"]["verified"] is False
        bearer = {"Authorization": f"Bearer {signed_up.json()['access_token']}"}

        # Verification: the mail holds a link with a token; the token verifies once.
        asked = client.post(f"{base}/request-verification", json={"email": "ann@example.com"})
        assert asked.status_code == 202, asked.text
        mail = inbox.wait_for("ann@example.com", "Verify your email address")
        assert mail["From"] == "shop@example.com"
        text = _body(mail)
        token = re.search(r"/api/auth/customers/verify\?token=([\w-]+)", text).group(1)
        assert token not in asked.text
        assert client.post(f"{base}/verify", json={"token": token}).status_code == 204
        assert client.get(f"{server.url}/api/auth/me", headers=bearer).json()["verified"] is True
        again = client.post(f"{base}/verify", json={"token": token})
        assert again.status_code == 400
        assert again.headers["content-type"].startswith("application/problem+json")

        # Reset for an unknown address: the same answer as for a known one, and no mail.
        unknown = client.post(
            f"{base}/request-password-reset", json={"email": "nobody@example.com"}
        )
        known = client.post(f"{base}/request-password-reset", json={"email": "ann@example.com"})
        assert (unknown.status_code, unknown.json()) == (known.status_code, known.json())
        assert known.status_code == 202
        mail = inbox.wait_for("ann@example.com", "Reset your password")
        # The unknown request was answered before the known one was even sent, and the known
        # one's mail has arrived: had the unknown one sent anything, it would be here too.
        assert inbox.to("nobody@example.com") == []
        token = re.search(r"reset-password:\s+(\S+)", _body(mail)).group(1)

        reset = client.post(
            f"{base}/reset-password", json={"token": token, "password": NEW_PASSWORD}
        )
        assert reset.status_code == 204, reset.text
        reused = client.post(
            f"{base}/reset-password", json={"token": token, "password": "yet another password"}
        )
        assert reused.status_code == 400
        assert reused.headers["content-type"].startswith("application/problem+json")

        old = client.post(f"{base}/login", json={"email": "ann@example.com", "password": PASSWORD})
        assert old.status_code == 401
        new = client.post(
            f"{base}/login", json={"email": "ann@example.com", "password": NEW_PASSWORD}
        )
        assert new.status_code == 200, new.text
        # A reset ends the sessions from before it.
        stale = client.post(
            f"{base}/refresh", json={"refresh_token": signed_up.json()["refresh_token"]}
        )
        assert stale.status_code in (400, 401)
        assert stale.headers["content-type"].startswith("application/problem+json")

    # Exactly the two mails to Ann, none to anyone else.
    assert sorted(m["Subject"] for m in inbox.messages) == [
        "Reset your password",
        "Verify your email address",
    ]


def test_mail_from_a_hook_leaves_only_when_its_write_commits(smtp, tmp_path, monkeypatch):
    """`backforge.mail.send_mail` in a hook: the mail of a committed write arrives over SMTP;
    the mail of a write that is rolled back afterwards is never sent."""
    from asgi_client import SyncASGIClient
    from backforge import App
    from backforge.mail import send_mail

    inbox, smtp_url = smtp
    monkeypatch.setenv("BACKFORGE_SMTP_URL", smtp_url)
    monkeypatch.setenv("BACKFORGE_MAIL_FROM", "notes@example.com")
    (tmp_path / "mail_hooks.py").write_text(
        "from backforge.hooks import HookError, Hooks\n"
        "from backforge.mail import send_mail\n"
        "hooks = Hooks()\n"
        "@hooks.after_create('notes')\n"
        "def tell(ctx):\n"
        "    send_mail(ctx.record['owner'], 'New note', 'Saved: ' + ctx.record['title'])\n"
        "    if ctx.record['title'] == 'refused':\n"
        "        raise HookError('refused after the mail was asked for', status=409)\n"
    )
    declaration = tmp_path / "notes.yaml"
    declaration.write_text(
        "name: notes\n"
        "hooks: mail_hooks.py\n"
        "collections:\n"
        "  notes:\n"
        "    fields: {title: {type: text}, owner: {type: email}}\n"
        "    rules: {create: public}\n"
    )
    app = App.from_file(declaration, f"sqlite:///{tmp_path / 'notes.db'}", auto_migrate=True)
    with SyncASGIClient(app) as client:
        refused = client.post("/api/notes", json={"title": "refused", "owner": "bob@example.com"})
        assert refused.status_code == 409
        kept = client.post("/api/notes", json={"title": "kept", "owner": "ann@example.com"})
        assert kept.status_code == 201, kept.text
    mail = inbox.wait_for("ann@example.com", "New note")
    assert mail["From"] == "notes@example.com" and _body(mail).strip() == "Saved: kept"
    # Asked for first, in the write rolled back: never sent (the later mail has arrived).
    assert inbox.to("bob@example.com") == []
    with pytest.raises(ValueError, match="line break"):
        send_mail("ann@example.com\r\nBcc: eve@example.com", "x", "y")
