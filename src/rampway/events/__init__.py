"""The event log: one row per served request and one per outcome, written off the request path.

from rampway.events import EventWriter, RequestEvent, FeedbackEvent, SqlEventSink
"""

from __future__ import annotations

from rampway.events.model import FeedbackEvent, Redactor, RequestEvent, hash_unit
from rampway.events.writer import EventSink, EventWriter, WriterStats

__all__ = [
    "EventSink",
    "EventWriter",
    "FeedbackEvent",
    "Redactor",
    "RequestEvent",
    "WriterStats",
    "hash_unit",
]
