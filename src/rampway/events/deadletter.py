"""Where events the database refuses go: an append-only JSON-lines file, one event per line.

A row the database will never accept (a NUL byte PostgreSQL's text type refuses, a lone
surrogate no driver can encode, a duplicate id) must neither block the rows around it nor
vanish: the writer isolates it and hands it here with the reason. Each line is

    {"ts": 1733520000.1, "reason": "DataError", "kind": "request", "event": {…the row…}}

encoded with `ensure_ascii` so that any string, however broken, becomes plain ASCII escapes
(`"\\ud800"`, `"\\u0000"`): the line itself can always be written, and an operator can repair
and replay it. Writes are whole lines opened with O_APPEND, so several gateway workers may share
one file. A file rather than a table because the table lives in the very database that just
said no (as Kafka Connect and Vector route dead letters outside the failing sink).

Example:
    letters = DeadLetterFile(Path(".rampway/dead-letter/events.jsonl"))
    letters.put([event], "DataError: text cannot contain NUL")
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from rampway.events.model import FeedbackEvent, RequestEvent

log = logging.getLogger("rampway.events")

MAX_REASON_CHARS = 300


class DeadLetter(Protocol):
    """Receives events that could not be stored, with a short reason (never raises)."""

    def put(self, events: Sequence[RequestEvent | FeedbackEvent], reason: str) -> None: ...


class DeadLetterFile:
    """Appends dead events to a JSON-lines file, creating its directory on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def put(self, events: Sequence[RequestEvent | FeedbackEvent], reason: str) -> None:
        now = time.time()
        lines = [dead_letter_line(e, reason, now) for e in events]
        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="ascii") as out:
                    out.write("".join(lines))
        except OSError as exc:  # the drop is still counted by the writer; say where it went
            log.error("cannot write %d dead-letter event(s) to %s: %s", len(lines), self.path,
                      exc)


def dead_letter_line(event: RequestEvent | FeedbackEvent, reason: str, now: float) -> str:
    """One line of the file (ASCII only, newline-terminated)."""
    doc: dict[str, Any] = {
        "ts": now,
        "reason": reason[:MAX_REASON_CHARS],
        "kind": "request" if isinstance(event, RequestEvent) else "feedback",
        "event": event.row(),
    }
    return json.dumps(doc, ensure_ascii=True, default=str) + "\n"


__all__ = ["DeadLetter", "DeadLetterFile", "dead_letter_line"]
