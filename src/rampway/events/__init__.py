"""The event log: one row per served request and one per outcome, written off the request path.

from rampway.events import EventWriter, RequestEvent, FeedbackEvent, SqlEventSink
"""

from __future__ import annotations

from rampway.events.deadletter import DeadLetter, DeadLetterFile
from rampway.events.model import FeedbackEvent, Redactor, RequestEvent, hash_unit
from rampway.events.writer import EventSink, EventWriter, WriterStats

__all__ = [
    "DeadLetter",
    "DeadLetterFile",
    "EventSink",
    "EventWriter",
    "FeedbackEvent",
    "Redactor",
    "RequestEvent",
    "WriterStats",
    "hash_unit",
]
