"""Sending email: SMTP in production, .eml files under instance/mail/ in the embedded mode."""
from __future__ import annotations

import os
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path


def build_message(*, sender: str, recipient: str, subject: str, text: str, html: str | None,
                  message_id: str, reply_to: str | None = None) -> EmailMessage:
    """An RFC 5322 message. EmailMessage refuses CR/LF in headers, which stops header injection."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"
    if reply_to:
        msg["Reply-To"] = reply_to
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    return msg


class FileMailer:
    """Writes each message as an .eml file, for the embedded mode and its dev-only mail page."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)

    def send(self, msg: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        safe_id = "".join(c for c in msg["Message-ID"] if c.isalnum() or c in "-_.")[:120]
        path = self.directory / f"{safe_id}.eml"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(bytes(msg))
        os.replace(tmp, path)


class SMTPMailer:
    def __init__(self, config):
        self.host = config["MAIL_SERVER"]
        self.port = config["MAIL_PORT"]
        self.username = config.get("MAIL_USERNAME")
        self.password = config.get("MAIL_PASSWORD")
        self.use_tls = config.get("MAIL_USE_TLS")
        self.use_ssl = config.get("MAIL_USE_SSL")
        self.timeout = config.get("MAIL_TIMEOUT", 30)

    def send(self, msg: EmailMessage) -> None:
        context = ssl.create_default_context()
        if self.use_ssl:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            if self.use_tls and not self.use_ssl:
                smtp.starttls(context=context)
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(msg)


def mailer_for(app):
    if app.config["MAIL_BACKEND"] == "file":
        return FileMailer(app.config["DSAR_MAIL_DIR"])
    if app.config["MAIL_BACKEND"] == "smtp":
        return SMTPMailer(app.config)
    raise ValueError(f"MAIL_BACKEND must be 'file' or 'smtp', got {app.config['MAIL_BACKEND']!r}")
