"""Sending mail over SMTP (BACKFORGE_SMTP_URL), or printing it to the log in development."""

from __future__ import annotations

import logging
import os
import smtplib
import threading
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

logger = logging.getLogger("backforge.mail")


class Mailer:
    """smtp://[user:password@]host:port (plain or STARTTLS when offered) or smtps://host:port."""

    def __init__(self, url: str | None, sender: str):
        self.url = url
        self.sender = sender
        self.sent: list[EmailMessage] = []  # kept in development so a developer can look

    @classmethod
    def from_environment(cls) -> Mailer:
        return cls(
            os.environ.get("BACKFORGE_SMTP_URL"),
            os.environ.get("BACKFORGE_MAIL_FROM", "backforge@localhost"),
        )

    def send(self, to: str, subject: str, body: str) -> None:
        """Send in the background, so that a response's timing does not depend on the mail."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        if self.url is None:
            # Development: the link is in the log for the developer; never in a response.
            logger.warning("mail to %s (no BACKFORGE_SMTP_URL set): %s\n%s", to, subject, body)
            self.sent.append(message)
            return
        threading.Thread(target=self._deliver, args=(message,), daemon=True).start()

    def _deliver(self, message: EmailMessage) -> None:
        assert self.url is not None
        parts = urlsplit(self.url)
        try:
            client_class = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
            with client_class(parts.hostname or "127.0.0.1", parts.port or 25, timeout=10) as smtp:
                if parts.scheme == "smtp" and smtp.has_extn("starttls"):
                    smtp.starttls()
                if parts.username:
                    smtp.login(unquote(parts.username), unquote(parts.password or ""))
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            logger.error("could not send mail to %s: %s", message["To"], exc)
