"""The text of an outbox email as its recipient gets it, links included.

The outbox keeps bodies with their secret links redacted (issue 12 item 2): a test that follows a link takes it
from the sealed copy of a message still waiting, or from the email the loopback SMTP server received.
"""
from __future__ import annotations

from dsar.models import OutboxMessage
from dsar.services.email_links import unseal


def text_as_sent(message: OutboxMessage, smtp_server) -> str:
    """``smtp_server`` is the session fixture (mailbox, port); the Message-ID finds the email whatever was cleared."""
    if message.sealed_body:
        return unseal(message.sealed_body)[0]
    box, _ = smtp_server
    for received in list(box.messages):
        if received["Message-ID"] == message.message_id:
            return box.text(received)
    raise AssertionError(f"outbox message {message.id} was neither sealed nor received ({message.status})")
