"""E-mail over SMTP: the secretaries' notices, one message to the unit's addresses. The notice id
is the Message-ID, so a repeat is recognisable."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage

from fourlinks_notifications.application.outgoing import Outgoing, Undelivered
from fourlinks_notifications.settings import Smtp


class SmtpMail:
    """Sends through one SMTP server (STARTTLS and login when configured)."""

    name = "email"

    def __init__(self, config: Smtp, timeout: float) -> None:
        self._config, self._timeout = config, timeout

    async def send(self, message: Outgoing, to: tuple[str, ...]) -> None:
        """Send in a worker thread (the standard library's client blocks)."""
        await asyncio.to_thread(self._send, message, to)

    def _send(self, message: Outgoing, to: tuple[str, ...]) -> None:
        mail = EmailMessage()
        mail["From"] = self._config.sender
        mail["To"] = ", ".join(to)
        mail["Subject"] = message.subject
        mail["Message-ID"] = f"<{message.key}@fourlinks>"
        mail.set_content(message.text)
        try:
            with smtplib.SMTP(self._config.host, self._config.port, timeout=self._timeout) as server:
                if self._config.starttls:
                    server.starttls()
                if self._config.username and self._config.password:
                    server.login(self._config.username, self._config.password.get_secret_value())
                server.send_message(mail)
        except smtplib.SMTPResponseException as exc:
            raise Undelivered(f"email: SMTP {exc.smtp_code}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise Undelivered(f"email: {type(exc).__name__}") from exc
