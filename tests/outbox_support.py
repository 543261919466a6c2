"""The text of an outbox email as its recipient gets it, links included.

The outbox keeps bodies with their secret links redacted (issue 12 item 2): a test that follows a link takes it
from a message still waiting (rendered from its sealed context), or from the email the loopback SMTP server received.
"""
from __future__ import annotations

from typing import NamedTuple

from dsar.models import OutboxMessage
from dsar.services.notifications import as_sent


def text_as_sent(message: OutboxMessage, smtp_server) -> str:
    """``smtp_server`` is the session fixture (mailbox, port); the Message-ID finds the email whatever was cleared."""
    if message.sealed_body:
        return as_sent(message)[1]
    box, _ = smtp_server
    for received in list(box.messages):
        if received["Message-ID"] == message.message_id:
            return box.text(received)
    raise AssertionError(f"outbox message {message.id} was neither sealed nor received ({message.status})")


class Email(NamedTuple):
    subject: str
    text: str
    html: str


def email_of(message: OutboxMessage) -> Email:
    """An outbox email as its recipient gets it, whether its delivery job has rendered it yet or not (issue 19
    item 7: a message still waiting holds only its sealed context; a sent one its subject and redacted bodies)."""
    subject, text, html = as_sent(message)
    return Email(subject, text, html or "")
