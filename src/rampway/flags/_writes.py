"""The rules of a flag or segment write, over any transaction that can run them (no SQLAlchemy).

`FlagStore.put` (SQLAlchemy, SQLite or PostgreSQL) and the light `rampway flags set` path
(`rampway.flags._sqlite_put`, stdlib `sqlite3` on the embedded SQLite store) run the *same*
`put` below; they differ only in the `Transaction` that executes its reads and writes. So a
write is validated, versioned and audited one way whichever road it takes:

    spec, changed = prepare_put("flag", "ops.kill", {"type": "bool", "default": False}, "why")
    record = put(tx, "flag", "ops.kill", spec, changed, actor="ana", reason="why",
                 expected_version=None, routing=lambda: None, guard=lambda state: [])

The gate interlocks (`rampway.release.protect`: a `.release` pin or a `.model` flag may serve
only what production could be moved to) are the `guard` argument: the SQLAlchemy road passes
them; the light road is taken only for writes `needs_gate` says they cannot judge.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from rampway._reason import require_reason
from rampway.errors import ConflictError, FlagError, UnroutableFlag
from rampway.flags._compile import FlagSet
from rampway.flags._model import Flag
from rampway.flags._parse import check_key
from rampway.flags.native import check_native, is_release_id, native_name, possible_values
from rampway.flags.routable import check_model_flags, located_values

if TYPE_CHECKING:
    from rampway.release._routable import Routing

Kind = Literal["flag", "segment"]
Source = Literal["api", "file"]
KINDS: tuple[Kind, ...] = ("flag", "segment")
DOC_KEYS = {"flag": "flags", "segment": "segments"}
GATED = ("release", "model")  # native flags whose values `rampway.release.protect` judges


@dataclass(frozen=True)
class DefinitionRecord:
    """One stored flag or segment definition (the shape of a `flags/*.yaml` entry)."""

    kind: Kind
    key: str
    definition: dict[str, Any]
    version: int
    source: Source
    file: str | None
    updated_at: datetime
    updated_by: str

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "definition": self.definition,
            "version": self.version,
            "source": self.source,
            "file": self.file,
            "updated_at": self.updated_at.isoformat(),
            "updated_by": self.updated_by,
        }


class Lookups(Protocol):
    """What validating a flag set reads from the store besides the definitions."""

    def release_known(self, release_id: str) -> bool: ...
    def channel_known(self, feature: str, name: str) -> bool: ...
    def pinned_canonical(self, feature: str, value: str) -> str | None: ...
    def channel_canonicals(self) -> Iterable[tuple[str, str]]: ...


class Transaction(Lookups, Protocol):
    """One write transaction on the store, as `put` uses it."""

    def bump_control_version(self) -> int: ...
    def get(self, kind: Kind, key: str) -> DefinitionRecord | None: ...
    def all(self, kind: Kind) -> list[DefinitionRecord]: ...
    def write(self, record: DefinitionRecord, *, insert: bool) -> None: ...
    def audit(self, *, actor: str, action: str, object_type: str, object_id: str,
              before: Any, after: Any, reason: str) -> None: ...


# What a guard returns: one `flag.skip_gate` audit payload per value let through unjudged.
Guard = Callable[[Mapping[Kind, Mapping[str, Any]]], Sequence[dict[str, Any]]]


def now() -> datetime:
    return datetime.now(UTC)


def plain_json(definition: Any, what: str) -> dict[str, Any]:
    """The definition as a JSON object (what the store keeps); FlagError if it is not one."""
    if not isinstance(definition, Mapping):
        raise FlagError(f"{what}: a definition must be a JSON object")
    try:
        out: dict[str, Any] = json.loads(json.dumps(definition, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise FlagError(f"{what}: definition is not plain JSON: {exc}") from exc
    return out


def needs_gate(kind: Kind, key: str) -> bool:
    """Whether writing this definition is judged by the gate interlocks (a `.release` pin or a
    `.model` flag); only the SQLAlchemy road runs them."""
    named = native_name(key) if kind == "flag" else None
    return named is not None and named[1] in GATED


def prepare_put(kind: Kind, key: str, definition: Any, reason: str) -> tuple[dict[str, Any],
                                                                              set[str]]:
    """The checks before any connection: key, reason, plain JSON; returns (spec, changed)."""
    check_key(kind, key, f"{DOC_KEYS[kind]}.{key}")
    require_reason(reason, f"writing {kind} '{key}'")
    spec = plain_json(definition, f"{kind} '{key}'")
    return spec, ({key} if kind == "flag" else set())


def put(tx: Transaction, kind: Kind, key: str, spec: dict[str, Any], changed: set[str], *,
        actor: str, reason: str, expected_version: int | None,
        routing: Callable[[], Routing | None], guard: Guard) -> DefinitionRecord:
    """`FlagStore.put` inside its transaction (see `rampway.flags.store` for the rules)."""
    tx.bump_control_version()  # first: takes the global row lock
    current = tx.get(kind, key)
    check_version(kind, key, current, expected_version)
    state = read_state(tx)
    state[kind][key] = spec
    validate(tx, state, routing(), changed)
    skipped = guard(state)
    record = write(tx, kind, key, spec, current, actor, reason, "api", None)
    audit_skips(tx, skipped, actor, reason)
    return record


def write(tx: Transaction, kind: Kind, key: str, spec: dict[str, Any],
          current: DefinitionRecord | None, actor: str, reason: str, source: Source,
          file: str | None) -> DefinitionRecord:
    """Write the definition at the next version, with its audit row."""
    version = 1 if current is None else current.version + 1
    record = DefinitionRecord(kind, key, spec, version, source, file, now(), actor)
    tx.write(record, insert=current is None)
    tx.audit(actor=actor, action=f"{kind}.{'create' if current is None else 'update'}",
             object_type=kind, object_id=key,
             before=None if current is None else audit_view(current),
             after=audit_view(record), reason=reason)
    return record


def audit_skips(tx: Transaction, skipped: Iterable[dict[str, Any]], actor: str,
                reason: str) -> None:
    """One `flag.skip_gate` row per `.model` value let through without its gate."""
    for allowed in skipped:
        tx.audit(actor=actor, action="flag.skip_gate", object_type="flag",
                 object_id=allowed["flag"], before=None, after=allowed, reason=reason)


def audit_view(rec: DefinitionRecord) -> dict[str, Any]:
    return {"definition": rec.definition, "version": rec.version, "source": rec.source}


def read_state(tx: Transaction) -> dict[Kind, dict[str, dict[str, Any]]]:
    return {kind: {r.key: r.definition for r in tx.all(kind)} for kind in KINDS}


def check_version(kind: Kind, key: str, current: DefinitionRecord | None,
                  expected: int | None) -> None:
    if expected is None:
        return
    actual = 0 if current is None else current.version
    if actual != expected:
        raise ConflictError(
            f"{kind} '{key}' is at version {actual}, not {expected}: "
            "someone changed it since you read it"
        )


def compile_state(state: Mapping[Kind, Mapping[str, Any]]) -> FlagSet:
    return FlagSet.from_dict({"flags": dict(state["flag"]), "segments": dict(state["segment"])})


def validate(lookups: Lookups, state: Mapping[Kind, Mapping[str, Any]],
             routing: Routing | None = None, changed: Collection[str] = ()) -> FlagSet:
    """Compile the whole set and check native flags against the store; raises FlagError.

    Routability is checked for the flags this write changes only: a flag that became
    unroutable since (a catalog edit) is `rampway doctor`'s to report, and must not block
    unrelated writes — least of all an incident-time kill switch.
    """
    compiled = compile_state(state)
    for flag in compiled.flags.values():
        check_native(flag)
        named = native_name(flag.key)
        if named is not None and named[1] == "release":
            _check_release_values(lookups, named[0], flag.key, possible_values(flag))
    if routing is not None and changed:
        written = [f for f in compiled.flags.values() if f.key in changed]
        check_model_flags(written, routing, release_providers(lookups))
        _check_pinned_routable(lookups, written, routing)
    return compiled


def _check_release_values(lookups: Lookups, feature: str, key: str,
                          values: Iterable[Any]) -> None:
    for value in set(values):
        if is_release_id(value):
            found, what = lookups.release_known(value), "release"
        else:
            found, what = lookups.channel_known(feature, value), f"channel of {feature!r}"
        if not found:
            raise FlagError(
                f"value {value!r}: no such {what} (publish or create it first)", flag=key
            )


def _check_pinned_routable(lookups: Lookups, flags: Iterable[Flag], routing: Routing) -> None:
    """A `.release` flag may only pin releases whose models the gateway can route."""
    for flag in flags:
        named = native_name(flag.key)
        if named is None or named[1] != "release":
            continue
        for rule, path, value in located_values(flag):
            canonical = (lookups.pinned_canonical(named[0], value)
                         if isinstance(value, str) else None)
            if canonical is None:
                continue
            from rampway.release import Release  # only here: Jinja and the release schema

            for provider, model in Release.from_canonical(canonical).models:
                problem = routing.problem(provider, model)
                if problem is not None:
                    raise UnroutableFlag(f"value {value!r} serves {provider}/{model}: {problem}",
                                         flag=flag.key, rule=rule, path=path)


def release_providers(lookups: Lookups) -> dict[str, set[str]]:
    """feature → the primary providers of the releases its channels point at now (what a
    `.model` flag value without a provider is served with)."""
    out: dict[str, set[str]] = {}
    for feature, canonical in lookups.channel_canonicals():
        out.setdefault(str(feature), set()).add(primary_provider(canonical))
    return out


def primary_provider(canonical: str) -> str:
    """The primary provider of a stored release, read from its canonical JSON.

    Every flag write asks this of each channel's release; rebuilding the release for one field
    (`Release.from_canonical`) would import Jinja and the pydantic release schema and re-check
    every template, a third of a light command's time. The text was validated when it was
    published; any shape but the one `canonical_text` writes is rebuilt in full, so a broken
    row is still reported as it was:

        primary_provider('{"format":1,"feature":"f","spec":{"provider":"sim",…},…}') == "sim"
    """
    try:
        payload = json.loads(canonical)
        provider = payload["spec"]["provider"] if payload.get("format") == 1 else None
    except (ValueError, TypeError, KeyError, AttributeError):
        provider = None
    if isinstance(provider, str):
        return provider
    from rampway.release import Release

    return Release.from_canonical(canonical).models[0][0]
