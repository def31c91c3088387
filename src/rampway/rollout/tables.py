"""Rollout state tables, on the store's shared metadata (Alembic `rollout_0001` … `rollout_0003`).

`rollouts` holds one row per rollout; the row *is* the state machine's state. Two columns make
concurrent controllers safe:

* `version` — every transition is a compare-and-swap `UPDATE … WHERE version = :seen`, so of
  two processes deciding the same transition exactly one writes it (the other matches no row).
* `active_feature` — equal to `feature` while the rollout is not finished, NULL afterwards, and
  UNIQUE: the database itself refuses a second active rollout on a feature (NULLs don't clash).

`gate` is what the rollout started from, as it was then: the recorded gate decision it
required (`{"skipped": false, "id": …, "verdict": "pass", …}`) or the override
(`{"skipped": true, "reason": …, "latest": <newest decision or null>}`); NULL for rollouts
started before gates were recorded. A copy, not a foreign key, so the rollout tables need not
import the gate's (the gateway loads these and must stay light).

`rollout_looks` keeps every look the judge took (`rollout_0003`): the step and weight it looked
at, the action and the evidence (each guardrail's estimate and interval, the SRM check), so the
dashboard can draw each guardrail's interval per look against its margin. `rollouts.evaluation`
keeps only the latest. About one small row per controller interval per active rollout.

The roll-up tables (`rollout_0004`, `rollout_0005`; `rampway.rollout.rollup`, read by the
controller's looks): `rollup_segments` names the windows to roll up (a feature, the time its
current step's window starts and the unit it counts, `rampway.rollout.segments`),
`rollup_units` one unit's running totals in one segment and arm (`state`: float64 counters,
`latency`/`ttft`: its sparse latency histograms), `rollup_arms` one arm's sums over its units
(`moments`: float64 vector, see `rollup.ArmLayout`). `rollup_batches` (`rollout_0006`) is the
ledger of a sink that writes its events elsewhere (ClickHouse) and its roll-up here: one row per
batch token and segment, pending from before the batch is written until its roll-up is applied
(`rampway.rollout.batches`).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    false,
)

from rampway.store.schema import JSONType, UTCDateTime, metadata

rollouts = Table(
    "rollouts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("feature", String(200), nullable=False),
    Column("active_feature", String(200), nullable=True, unique=True),
    Column("status", String(32), nullable=False),
    Column("step", Integer, nullable=False),  # index into plan.steps; -1 while pending
    Column("weight_bp", Integer, nullable=False),
    Column("candidate", String(280), nullable=False),
    Column("baseline", String(280), nullable=False),
    Column("baseline_channel", String(200), nullable=False),
    Column("salt", String(300), nullable=False),
    Column("plan", JSONType, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("step_started_at", UTCDateTime(), nullable=True),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("reason", Text, nullable=False),
    Column("evaluation", JSONType, nullable=True),
    Column("evaluated_at", UTCDateTime(), nullable=True),
    Column("gate", JSONType, nullable=True),
    Index("ix_rollouts_feature", "feature"),
)

rollout_looks = Table(
    "rollout_looks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("rollout_id", Integer, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("step", Integer, nullable=False),
    Column("weight_bp", Integer, nullable=False),
    Column("action", String(16), nullable=False),  # proceed | hold | pause | rollback
    Column("evidence", JSONType, nullable=False),  # `Evaluation.as_dict()`
    Index("ix_rollout_looks_rollout_id_id", "rollout_id", "id"),
)

rollup_segments = Table(
    "rollup_segments",
    metadata,
    Column("feature", String(200), primary_key=True),
    Column("since", Float, primary_key=True),
    # the segment's first seconds were merged into the roll-up (`rollup.merge_guard`)
    Column("merged", Boolean, nullable=False, server_default=false()),
    # what a unit is: "user" (`unit_hash`) or "session" (`session_hash`), as the plan says
    Column("unit", String(16), nullable=False, server_default="user"),  # rollout_0005
)

rollup_units = Table(
    "rollup_units",
    metadata,
    Column("feature", String(200), primary_key=True),
    Column("since", Float, primary_key=True),
    Column("release_id", String(200), primary_key=True),
    Column("arm", String(100), primary_key=True),
    Column("unit", String(64), primary_key=True),
    Column("state", LargeBinary, nullable=False),
    Column("latency", LargeBinary, nullable=False),
    Column("ttft", LargeBinary, nullable=False),
)

rollup_arms = Table(
    "rollup_arms",
    metadata,
    Column("feature", String(200), primary_key=True),
    Column("since", Float, primary_key=True),
    Column("release_id", String(200), primary_key=True),
    Column("arm", String(100), primary_key=True),
    Column("moments", LargeBinary, nullable=False),
)

rollup_batches = Table(
    "rollup_batches",
    metadata,
    Column("token", String(64), primary_key=True),  # `clickhouse.sink.batch_token`
    Column("feature", String(200), primary_key=True),
    Column("since", Float, primary_key=True),  # the segment the batch was reserved for
    Column("at", Float, nullable=False),  # when it was reserved (epoch seconds)
    Column("applied", Boolean, nullable=False, server_default=false()),
    Index("ix_rollup_batches_feature_since", "feature", "since"),
    Index("ix_rollup_batches_at", "at"),
)

__all__ = ["rollout_looks", "rollouts", "rollup_arms", "rollup_batches", "rollup_segments",
           "rollup_units"]
