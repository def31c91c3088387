"""Webhooks on rollout transitions: generic JSON, or Slack-compatible `{"text", "blocks"}`.

Delivery never blocks a transition: `Notifier.send` only enqueues; one background thread posts
with httpx (timeout per call, failures logged, never raised). A full queue drops the notice
with a warning rather than slow the controller. `close()` waits a bounded time for the queue to
drain, so a short-lived CLI process still delivers what it announced.

    notifier = Notifier([Webhook(url="http://127.0.0.1:9000/hook", format="slack")])
    notifier.send(notice)          # returns at once
    notifier.close(timeout=5)
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from rampway.rollout.plan import Webhook

log = logging.getLogger("rampway.rollout")

EMOJI = {"start": ":rocket:", "advance": ":arrow_up:", "pause": ":double_vertical_bar:",
         "resume": ":arrow_forward:", "await_approval": ":raised_hand:",
         "approve": ":white_check_mark:", "rollback": ":rotating_light:", "abort": ":x:",
         "complete": ":tada:"}


@dataclass(frozen=True, slots=True)
class Notice:
    """One transition, as announced."""

    event: str
    feature: str
    rollout_id: int
    status: str
    step: int
    steps: int
    weight_pct: float
    candidate: str
    baseline: str
    reason: str
    actor: str
    at: str
    evidence: dict[str, Any] | None = None

    def headline(self) -> str:
        return (f"rollout {self.feature}#{self.rollout_id} {self.event}: "
                f"{self.candidate} at {self.weight_pct:g}% ({self.status}) — {self.reason}")


def json_payload(notice: Notice) -> dict[str, Any]:
    return {"type": f"rollout.{notice.event}", **asdict(notice)}


def slack_payload(notice: Notice) -> dict[str, Any]:
    text = f"{EMOJI.get(notice.event, '')} {notice.headline()}".strip()
    fields = [
        f"*Feature*\n{notice.feature}", f"*Status*\n{notice.status}",
        f"*Candidate*\n{notice.candidate}", f"*Baseline*\n{notice.baseline}",
        f"*Weight*\n{notice.weight_pct:g}%", f"*Step*\n{notice.step + 1}/{notice.steps}",
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
    ]
    lines = _evidence_lines(notice.evidence)
    if lines:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}})
    blocks.append({"type": "context", "elements": [
        {"type": "mrkdwn", "text": f"by {notice.actor} at {notice.at}"}]})
    return {"text": text, "blocks": blocks}


def _evidence_lines(evidence: dict[str, Any] | None) -> list[str]:
    if not evidence:
        return []
    out = []
    for g in evidence.get("guardrails", []):
        est, lo, hi = g.get("estimate"), g.get("lower"), g.get("upper")
        interval = "" if lo is None or hi is None else f" [{lo:+.4g}, {hi:+.4g}]"
        shown = "n/a" if est is None else f"{est:+.4g}"
        out.append(f"• `{g['metric']}` {g['verdict']}: {shown}{interval} "
                   f"(n={g['n_baseline']}/{g['n_candidate']})")
    return out


def payload(hook: Webhook, notice: Notice) -> dict[str, Any]:
    return slack_payload(notice) if hook.format == "slack" else json_payload(notice)


def wants(hook: Webhook, event: str) -> bool:
    return hook.events is None or event in hook.events


class Notifier:
    """Posts notices to webhooks from a background thread."""

    def __init__(self, webhooks: Sequence[Webhook] = (), *, timeout: float = 5.0,
                 max_queue: int = 1000, transport: httpx.BaseTransport | None = None) -> None:
        self.webhooks = tuple(webhooks)
        self.sent = 0
        self.failed = 0
        self._timeout = timeout
        self._transport = transport
        self._queue: queue.Queue[tuple[Webhook, dict[str, Any]] | None] = queue.Queue(max_queue)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def send(self, notice: Notice, extra: Sequence[Webhook] = ()) -> None:
        """Enqueue `notice` for every interested webhook (global + the rollout's own)."""
        for hook in (*self.webhooks, *extra):
            if wants(hook, notice.event):
                self._enqueue(hook, payload(hook, notice), notice.event)

    def announce(self, event: str, body: dict[str, Any], text: str) -> None:
        """Enqueue a notice that is not a rollout transition (e.g. `model_drift`) for every
        interested webhook: `{"type": event, **body}` as JSON, `text` for Slack."""
        for hook in self.webhooks:
            if not wants(hook, event):
                continue
            data = ({"text": text, "blocks": [{"type": "section", "text": {
                        "type": "mrkdwn", "text": text}}]}
                    if hook.format == "slack" else {"type": event, **body})
            self._enqueue(hook, data, event)

    def _enqueue(self, hook: Webhook, body: dict[str, Any], event: str) -> None:
        try:
            self._queue.put_nowait((hook, body))
        except queue.Full:
            log.warning("webhook queue full; dropped %s notice for %s", event, hook.url)
            return
        self._ensure_thread()

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="rampway-webhooks",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=self._timeout, transport=self._transport) as client:
            while True:
                item = self._queue.get()
                try:
                    if item is None:
                        return
                    self._post(client, *item)
                finally:
                    self._queue.task_done()

    def _post(self, client: httpx.Client, hook: Webhook, body: dict[str, Any]) -> None:
        try:
            response = client.post(hook.url, json=body)
            response.raise_for_status()
            self.sent += 1
        except httpx.HTTPError as exc:
            self.failed += 1
            log.warning("webhook %s failed: %s", hook.url, exc)

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (waiting at most `timeout` seconds), then stop the thread."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        deadline = time.monotonic() + timeout
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        thread.join(max(0.0, deadline - time.monotonic()))


__all__ = ["Notice", "Notifier", "json_payload", "payload", "slack_payload", "wants"]
