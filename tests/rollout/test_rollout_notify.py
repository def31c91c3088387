"""Webhooks against a real local HTTP receiver: JSON and Slack payloads, event filters, and a
slow or dead receiver never holding up a transition."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from rollout_helpers import FEATURE, FakeClock, gated_pair, plan

from rampway.rollout import Controller, Notifier, Webhook
from rampway.store import Store


class Receiver:
    """A local webhook receiver; with `hold`, it answers nothing until `release()`."""

    def __init__(self, status: int = 200, hold: bool = False) -> None:
        self.bodies: list[tuple[str, dict[str, Any]]] = []
        self.arrived = threading.Event()  # a request reached the handler
        self._released = threading.Event()
        if not hold:
            self._released.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers["Content-Length"])
                body = json.loads(self.rfile.read(length))
                receiver.arrived.set()
                receiver._released.wait(30)
                receiver.bodies.append((self.path, body))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def release(self) -> None:
        self._released.set()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """Delivery does not depend on the database: SQLite only."""
    opened = Store.open(f"sqlite:///{tmp_path / 'rampway.db'}")
    yield opened
    opened.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_json_and_slack_webhooks_on_start_and_rollback(store: Store, receiver: Receiver) -> None:
    _, candidate = gated_pair(store)
    notifier = Notifier([Webhook(url=receiver.url + "/json")])
    slack = Webhook(url=receiver.url + "/slack", format="slack", events=["rollback"])
    controller = Controller(store, clock=FakeClock(), notifier=notifier)
    controller.start(FEATURE, candidate, plan=plan(webhooks=[slack.model_dump()]), actor="ana")
    controller.command(FEATURE, "rollback", actor="bob", reason="pager noise")
    notifier.close(timeout=5)
    by_path: dict[str, list[dict[str, Any]]] = {}
    for path, body in receiver.bodies:
        by_path.setdefault(path, []).append(body)
    assert [b["event"] for b in by_path["/json"]] == ["start", "rollback"]
    start = by_path["/json"][0]
    assert start["type"] == "rollout.start" and start["feature"] == FEATURE
    assert start["candidate"] == candidate and start["weight_pct"] == 5
    assert start["rollout_id"] == 1 and start["actor"] == "ana"
    [message] = by_path["/slack"]  # filtered to rollback only
    assert set(message) == {"text", "blocks"}
    assert "rollback" in message["text"] and "pager noise" in message["text"]
    assert message["blocks"][0]["type"] == "section"
    assert notifier.sent == 3 and notifier.failed == 0


def test_a_slow_or_dead_receiver_never_blocks_a_transition(store: Store) -> None:
    """Both transitions return while the slow receiver still holds its first answer.

    No wall-clock bound (that would flake on a loaded machine): the receiver answers only once
    both transitions have returned. A transition that waited for its delivery would sit out the
    webhook timeout, and that delivery would count as failed; here all slow ones succeed.
    """
    slow = Receiver(hold=True)
    try:
        _, candidate = gated_pair(store)
        notifier = Notifier([Webhook(url=slow.url), Webhook(url="http://127.0.0.1:9/dead")],
                            timeout=10)
        controller = Controller(store, clock=FakeClock(), notifier=notifier)
        controller.start(FEATURE, candidate, plan=plan(), actor="ana")
        controller.command(FEATURE, "abort", actor="ana", reason="changed my mind")
        assert slow.bodies == [] and notifier.sent == 0  # nothing answered yet ...
        assert slow.arrived.wait(30)  # ... though the first delivery is under way
        slow.release()
        notifier.close(timeout=30)
        assert notifier.sent == 2 and notifier.failed == 2
        assert [b["event"] for _, b in slow.bodies] == ["start", "abort"]
    finally:
        slow.close()


def test_error_status_counts_as_failure(store: Store) -> None:
    broken = Receiver(status=500)
    try:
        _, candidate = gated_pair(store)
        notifier = Notifier([Webhook(url=broken.url)])
        Controller(store, clock=FakeClock(), notifier=notifier).start(
            FEATURE, candidate, plan=plan(), actor="ana")
        notifier.close(timeout=5)
        assert notifier.failed == 1 and notifier.sent == 0
    finally:
        broken.close()
