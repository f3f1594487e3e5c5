"""A real local SMTP server (aiosmtpd) for tests of e-mailed notifications."""

from __future__ import annotations

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

from tests.browser import free_port


class Inbox(Message):
    def __init__(self) -> None:
        super().__init__()
        self.messages = []

    def handle_message(self, message) -> None:
        self.messages.append(message)


@pytest.fixture
def smtp_server():
    """(controller, inbox): an SMTP server on a free local port, and what it received."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, inbox
    finally:
        controller.stop()


def with_smtp(settings, port: int):
    return settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port})
