"""One loop for the gateway's schedules (retention, deliveries, reminders, index runs)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

LOG = logging.getLogger(__name__)


async def repeat(
    what: str, seconds: float, work: Callable[[], object], log: logging.Logger = LOG
) -> None:
    """``work`` every ``seconds`` in a worker thread (requests are served meanwhile), first
    after one interval, until cancelled. A failure is logged by its type, never its message
    (which may hold data), and the next run goes ahead."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await asyncio.to_thread(work)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001
            log.error("scheduled %s failed (%s)", what, type(error).__name__)
