"""Mail from user code (hooks, custom endpoints, jobs):

    from backforge.mail import send_mail

    send_mail(customer["email"], "Your order", f"Order {order['id']} is on its way.")

Sent over SMTP (`BACKFORGE_SMTP_URL`, from `BACKFORGE_MAIL_FROM`), or, without a URL, written to
the log for the developer. Inside a write (a hook, an endpoint's transaction) the mail leaves
once the write commits, and never for one rolled back. Delivery is best effort, in the
background; for mail that must arrive, send it from a job, which is retried.
"""

from __future__ import annotations

from .auth.mail import Mailer
from .store.events import current_transaction

__all__ = ["send_mail"]


def send_mail(to: str, subject: str, text: str) -> None:
    """Send a plain-text mail to one address; ValueError for a header that holds a line
    break (nothing can be smuggled into the headers)."""
    for value in (to, subject):
        if "\r" in value or "\n" in value:
            raise ValueError("a mail address or subject holds no line break")
    mailer = Mailer.from_environment()
    transaction = current_transaction.get()
    if transaction is None:
        mailer.send(to, subject, text)
    else:
        transaction.on_commit.append(lambda: mailer.send(to, subject, text))
