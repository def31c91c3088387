"""Eval runs, results and the response cache in the store (the I/O layer of evals).

Writes are batched by the runner (one transaction per flush, not per call), and the cache is
read in bulk per release before a run starts, so the store costs microseconds per call.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from rampway.errors import RefError
from rampway.evals.results import CaseResult, EvalRun
from rampway.evals.tables import eval_cache, eval_results, eval_runs
from rampway.store import Store

RUNNING = "running"
COMPLETE = "complete"


@dataclass(frozen=True, slots=True)
class CachedCall:
    response: Mapping[str, Any]
    cost_usd: float
    latency_s: float


@dataclass(frozen=True, slots=True)
class RunKey:
    """What makes two runs interchangeable: same feature, release, suite and repeats."""

    feature: str
    release_id: str
    release_digest: str
    suite_digest: str
    repeats: int
    traffic_class: str


def _insert_ignore(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    if rows:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(dialect.insert(table).on_conflict_do_nothing(), rows)


class EvalStore:
    """Thin persistence for evals over an open `Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- cache ---------------------------------------------------------------------------------

    def load_cache(self, release_digest: str) -> dict[str, CachedCall]:
        query = sa.select(
            eval_cache.c.key, eval_cache.c.response, eval_cache.c.cost_usd, eval_cache.c.latency_s
        ).where(eval_cache.c.release_digest == release_digest)
        with self.store.reading() as conn:
            return {
                row.key: CachedCall(row.response, row.cost_usd, row.latency_s)
                for row in conn.execute(query)
            }

    def get_cached(self, key: str) -> CachedCall | None:
        query = sa.select(eval_cache).where(eval_cache.c.key == key)
        with self.store.reading() as conn:
            row = conn.execute(query).first()
        return None if row is None else CachedCall(row.response, row.cost_usd, row.latency_s)

    def put_cache(self, rows: Iterable[tuple[str, str, str, CachedCall]]) -> None:
        """rows: (key, kind, release_digest, call). Existing keys are kept (first answer wins)."""
        now = time.time()
        values = [
            {
                "key": key,
                "kind": kind,
                "release_digest": digest,
                "response": dict(call.response),
                "cost_usd": call.cost_usd,
                "latency_s": call.latency_s,
                "created_at": now,
            }
            for key, kind, digest, call in rows
        ]
        if values:
            with self.store.transaction() as conn:
                _insert_ignore(conn, eval_cache, values)

    # -- runs ----------------------------------------------------------------------------------

    def open_run(
        self, key: RunKey, resume: bool = True
    ) -> tuple[str, dict[tuple[str, int], CaseResult]]:
        """Resume the newest unfinished identical run (if `resume`), or start one.

        Returns (id, done results). An independent second sample of a release (its own seeds)
        must not resume the first sample's run, hence `resume=False`.
        """
        query = (
            sa.select(eval_runs.c.id)
            .where(
                eval_runs.c.feature == key.feature,
                eval_runs.c.release_digest == key.release_digest,
                eval_runs.c.suite_digest == key.suite_digest,
                eval_runs.c.repeats == key.repeats,
                eval_runs.c.status == RUNNING,
            )
            .order_by(eval_runs.c.started_at.desc())
            .limit(1)
        )
        with self.store.reading() as conn:
            found = conn.execute(query).scalar() if resume else None
        if found is not None:
            return str(found), self._results(str(found))
        run_id = uuid.uuid4().hex
        row = {
            "id": run_id,
            "feature": key.feature,
            "release_id": key.release_id,
            "release_digest": key.release_digest,
            "suite_digest": key.suite_digest,
            "repeats": key.repeats,
            "traffic_class": key.traffic_class,
            "status": RUNNING,
            "started_at": time.time(),
        }
        with self.store.transaction() as conn:
            conn.execute(eval_runs.insert(), [row])
        return run_id, {}

    def save_results(self, run_id: str, results: Iterable[tuple[str, CaseResult]]) -> None:
        """Persist finished results (cache_key, result); duplicates of a (case, repeat) are kept."""
        now = time.time()
        values = [
            {
                "run_id": run_id,
                "case_id": result.case_id,
                "repeat": result.repeat,
                "cache_key": cache_key,
                "result": result.to_json(),
                "created_at": now,
            }
            for cache_key, result in results
        ]
        if values:
            with self.store.transaction() as conn:
                _insert_ignore(conn, eval_results, values)

    def complete_run(self, run_id: str, summary: Mapping[str, Any]) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                eval_runs.update()
                .where(eval_runs.c.id == run_id)
                .values(status=COMPLETE, finished_at=time.time(), summary=dict(summary))
            )

    def _results(self, run_id: str) -> dict[tuple[str, int], CaseResult]:
        query = sa.select(eval_results.c.result).where(eval_results.c.run_id == run_id)
        with self.store.reading() as conn:
            loaded = [CaseResult.from_json(row.result) for row in conn.execute(query)]
        return {(r.case_id, r.repeat): r for r in loaded}

    def run_row(self, run_id: str) -> Mapping[str, Any]:
        with self.store.reading() as conn:
            row = conn.execute(sa.select(eval_runs).where(eval_runs.c.id == run_id)).first()
        if row is None:
            raise RefError(f"no eval run {run_id!r}")
        return dict(row._mapping)

    def load_results(self, run_id: str) -> list[CaseResult]:
        return sorted(self._results(run_id).values(), key=lambda r: (r.case_id, r.repeat))

    def list_runs(self, feature: str, limit: int = 20) -> list[Mapping[str, Any]]:
        query = (
            sa.select(eval_runs)
            .where(eval_runs.c.feature == feature)
            .order_by(eval_runs.c.started_at.desc())
            .limit(limit)
        )
        with self.store.reading() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]


def run_from_rows(
    row: Mapping[str, Any], results: list[CaseResult], template: EvalRun
) -> EvalRun:
    """An EvalRun from stored rows, with suite facts (weights, critical) from `template`."""
    return EvalRun(
        run_id=row["id"],
        feature=row["feature"],
        release_id=row["release_id"],
        release_digest=row["release_digest"],
        suite_digest=row["suite_digest"],
        traffic_class=row["traffic_class"],
        repeats=row["repeats"],
        metric_names=template.metric_names,
        case_weights=template.case_weights,
        critical=template.critical,
        results=results,
        complete=row["status"] == COMPLETE,
    )
