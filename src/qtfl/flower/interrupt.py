"""A Flower Grid whose waits end when the run is interrupted.

Flower's simulation engine runs the ServerApp on a non-daemon thread that waits for
replies in ``Grid.send_and_receive`` until the round timeout. When the main thread is
interrupted (SIGINT/SIGTERM) the process could not exit before that wait ran out (measured:
still running 120 s after SIGTERM with a 300 s round timeout). :class:`StoppableGrid`
delegates to the real grid and polls a :class:`threading.Event` while it waits; once the
event is set it raises :class:`RunInterrupted`, which ends the ServerApp thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

from flwr.app import Message
from flwr.serverapp import Grid


class RunInterrupted(RuntimeError):
    """The run was stopped from outside while the ServerApp waited for replies."""


class DelegatingGrid(Grid):
    """A Grid that hands every call to ``inner``; subclasses change what they need."""

    def __init__(self, inner: Grid) -> None:
        self.inner = inner

    def set_run(self, run: Any) -> None:
        self.inner.set_run(run)

    @property
    def run(self) -> Any:
        return self.inner.run

    def create_message(self, *args: Any, **kwargs: Any) -> Message:
        return self.inner.create_message(*args, **kwargs)

    def get_node_ids(self) -> Iterable[int]:
        return self.inner.get_node_ids()

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        return self.inner.push_messages(messages)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return self.inner.pull_messages(message_ids)

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        return self.inner.send_and_receive(messages, timeout=timeout)


class StoppableGrid(DelegatingGrid):
    """``inner`` with a ``send_and_receive`` that gives up as soon as ``stop`` is set."""

    def __init__(self, inner: Grid, stop: threading.Event, *, poll_s: float = 0.1) -> None:
        super().__init__(inner)
        self.stop = stop
        self.poll_s = poll_s

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        """Push, then pull replies until all came, ``timeout`` passed, or ``stop`` is set."""
        if self.stop.is_set():
            raise RunInterrupted("the run was interrupted")
        pending = set(self.inner.push_messages(messages))
        deadline = None if timeout is None else time.monotonic() + timeout
        replies: list[Message] = []
        while pending and (deadline is None or time.monotonic() < deadline):
            if self.stop.is_set():
                raise RunInterrupted("the run was interrupted")
            got = list(self.inner.pull_messages(pending))
            replies.extend(got)
            pending.difference_update(m.metadata.reply_to_message_id for m in got)
            if pending:
                time.sleep(self.poll_s)
        return replies
