"""Every CLI road to users refuses what the gateway could not serve or what was never gated.

On a copy of examples/support-bot, on SQLite and PostgreSQL: unroutable models (release files,
flags), protected channels (gate PASS, approval, `--skip-gate`, rollback never blocked), a
typo'd feature, and `rampway gate --changed-since` with a revision git does not have.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

import rampway.cli._register  # noqa: F401  (attaches the commands)
from rampway.cli import app
from rampway.providers.registry import ProviderRegistry
from rampway.providers.sim._config import load_sim_config
from rampway.providers.sim._provider import SimProvider
from rampway.store import Store

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support-bot"
FEATURE = "support-bot"


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def assert_refused(result: Result, *fragments: str) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def project(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example project with production → its release; the sim runs in-process, instantly."""
    root = tmp_path / "support-bot"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".rampway"))
    monkeypatch.setenv("RAMPWAY_DB", db_url)
    monkeypatch.setenv("RAMPWAY_ACTOR", "ana@example.com")
    monkeypatch.delenv("RAMPWAY_PROJECT", raising=False)
    monkeypatch.chdir(root)

    def fast_sim(config: Any, **_: Any) -> ProviderRegistry:
        sim = load_sim_config(None)
        sim.time_scale = 0.0
        return ProviderRegistry({"sim": SimProvider(sim)}, {"sim": "sim"})

    monkeypatch.setattr("rampway.providers.registry.build_providers", fast_sim)
    first = run("channel", "set", FEATURE, "production", f"releases/{FEATURE}", "--reason", "go")
    assert first.exit_code == 0, first.output  # an empty channel has nothing to gate against
    return root


def candidate(root: Path, note: str = "v2.1.") -> str:
    """A copy of the release that only changes its description: a new id, same behaviour."""
    target = root / "candidates" / FEATURE
    shutil.copytree(root / "releases" / FEATURE, target, dirs_exist_ok=True)
    spec = target / "release.yaml"
    spec.write_text(spec.read_text().replace("description: >-", f"description: >-\n  {note}", 1))
    return f"candidates/{FEATURE}"


def production(db_url: str) -> tuple[str, int]:
    with Store.open(db_url) as store:
        state = store.get_channel(FEATURE, "production")
    assert state is not None
    return state.release_id, state.version


def use_vllm(root: Path, with_catalog: bool = False) -> None:
    """A self-hosted model behind `kind: openai`, used by the release (optionally priced 0)."""
    config = root / "rampway.yaml"
    text = config.read_text().replace(
        "providers:\n", 'providers:\n  vllm: {kind: openai, base_url: "http://10.0.0.5:8000/v1"}\n',
        1)
    if with_catalog:
        text += ("catalog:\n  - {provider: vllm, model: llama-3.1-8b, input_per_mtok: 0,"
                 " output_per_mtok: 0, context_window: 8192}\n")
    config.write_text(text)
    spec = root / "releases" / FEATURE / "release.yaml"
    text = spec.read_text().replace("provider: sim\nmodel: sim-large\n",
                                    "provider: vllm\nmodel: llama-3.1-8b\n", 1)
    spec.write_text(text.replace("fallbacks: [sim-small]", "fallbacks: [sim/sim-small]", 1))


# -- routability ----------------------------------------------------------------------------------


def test_unroutable_self_hosted_model_is_refused_by_validate_publish_and_channel_set(
    project: Path, db_url: str
) -> None:
    before = production(db_url)
    use_vllm(project)
    validate = run("release", "validate")
    assert validate.exit_code == 2 and "vllm/llama-3.1-8b has no catalog entry" in (
        validate.stderr), validate.output
    assert_refused(run("release", "publish", FEATURE), "release.yaml:", "vllm/llama-3.1-8b",
                   "under `catalog:` in rampway.yaml")
    assert_refused(run("channel", "set", FEATURE, "canary", f"releases/{FEATURE}",
                       "--reason", "try"), "vllm/llama-3.1-8b has no catalog entry")
    assert production(db_url) == before
    with Store.open(db_url) as store:
        assert len(store.list_releases(FEATURE)) == 1  # nothing was published on the way
        assert store.get_channel(FEATURE, "canary") is None


def test_a_free_catalog_entry_makes_the_self_hosted_model_publishable(project: Path) -> None:
    use_vllm(project, with_catalog=True)
    assert run("release", "validate").exit_code == 0
    assert run("release", "publish", FEATURE).exit_code == 0


def test_flags_set_refuses_a_model_no_provider_can_serve_and_writes_nothing(
    project: Path, db_url: str
) -> None:
    huge = json.dumps({"type": "string", "default": "sim/sim-huge"})
    line = assert_refused(run("flags", "set", f"{FEATURE}.model", "--definition", huge,
                              "--reason", "bigger"),
                          "flag 'support-bot.model'", "'sim/sim-huge'", "no catalog entry")
    assert "default" in line
    bare = json.dumps({"type": "string", "default": "sim-large",
                       "rules": [{"condition": {"plan": "pro"}, "value": "sim-hugee"}]})
    assert_refused(run("flags", "set", f"{FEATURE}.model", "--definition", bare,
                       "--reason", "typo"), "rule 0", "sim/sim-hugee has no catalog entry",
                   "uses the release's, sim")
    assert run("flags", "list", "--json").exit_code == 0
    with Store.open(db_url) as store:
        from rampway.flags.store import FlagStore

        assert FlagStore(store).get("flag", f"{FEATURE}.model") is None
    ok = json.dumps({"type": "string", "default": "sim/sim-large-2"})
    # routable, but a model swap needs its gate PASS (or an audited override) like a pin
    assert_refused(run("flags", "set", f"{FEATURE}.model", "--definition", ok,
                       "--reason", "fine"), "gate")
    assert run("flags", "set", f"{FEATURE}.model", "--definition", ok, "--skip-gate",
               "--reason", "fine").exit_code == 0


def test_flags_validate_and_push_name_the_file_and_line_of_a_typo(project: Path) -> None:
    flags = project / "flags" / f"{FEATURE}.yaml"
    assert run("flags", "validate").exit_code == 0
    flags.write_text(flags.read_text().replace("value: sim/sim-large-2", "value: sim/sim-hugee"))
    for command in (("flags", "validate"), ("flags", "push")):
        line = assert_refused(run(*command), "flags/support-bot.yaml:",
                              "flag 'support-bot.model' rule 1",
                              "sim/sim-hugee has no catalog entry")
        assert re.search(r"support-bot\.yaml:\d+: ", line), line


# -- protected channels -------------------------------------------------------------------------


def test_production_needs_a_gate_pass_and_the_refusal_names_the_command(
    project: Path, db_url: str
) -> None:
    before = production(db_url)
    ref = candidate(project)
    line = assert_refused(run("channel", "set", FEATURE, "production", ref, "--reason", "ship"),
                          "channel 'production' of support-bot is protected",
                          "no recorded gate", "--skip-gate")
    assert production(db_url) == before
    found = re.search(r"run `(rampway gate [^`]+)` first", line)
    assert found is not None, line
    gated = run(*shlex.split(found.group(1))[1:], "--json")
    assert gated.exit_code == 0 and json.loads(gated.stdout)["verdict"] == "pass", gated.output
    moved = run("channel", "set", FEATURE, "production", ref, "--reason", "ship", "--json")
    assert moved.exit_code == 0, moved.output
    assert json.loads(moved.stdout)["version"] == before[1] + 1


def test_skip_gate_moves_with_a_reason_is_audited_and_rollback_is_never_blocked(
    project: Path, db_url: str
) -> None:
    first, _ = production(db_url)
    ref = candidate(project)
    moved = run("channel", "set", FEATURE, "production", ref, "--skip-gate",
                "--reason", "P0 hotfix, gate infra down", "--json")
    assert moved.exit_code == 0, moved.output
    with Store.open(db_url) as store:
        audit = store.list_audit(object_type="channel", object_id=f"{FEATURE}/production")
    assert [(a.action, a.reason) for a in audit if a.action == "channel.skip_gate"] == [
        ("channel.skip_gate", "P0 hotfix, gate infra down")]
    back = run("rollback", FEATURE, "--reason", "regressed", "--json")
    assert back.exit_code == 0, back.output
    assert production(db_url)[0] == first


def test_unprotected_and_approval_channels_follow_rampway_yaml(
    project: Path, db_url: str
) -> None:
    config = project / "rampway.yaml"
    text = config.read_text()
    assert "    require: [gate]" in text  # the example spells out the default
    config.write_text(text.replace("    require: [gate]", "    require: []", 1)
                      + "\n".join(["", "  staging:", "    require: [approval]", ""]))
    ref = candidate(project)
    assert run("channel", "set", FEATURE, "production", ref, "--reason", "free").exit_code == 0
    assert run("channel", "set", FEATURE, "staging", f"releases/{FEATURE}",
               "--reason", "first").exit_code == 0
    other = candidate(project, "v2.2.")
    assert_refused(run("channel", "set", FEATURE, "staging", other, "--reason", "next"),
                   "channel 'staging' of support-bot is protected", "no recorded approval",
                   "rampway release approve")
    approved = run("release", "approve", FEATURE, other, "--reason", "read the diff", "--json")
    assert approved.exit_code == 0, approved.output
    assert json.loads(approved.stdout)["approved_by"] == "ana@example.com"
    assert run("channel", "set", FEATURE, "staging", other, "--reason", "next").exit_code == 0


def test_a_typo_in_the_feature_name_creates_nothing(project: Path, db_url: str) -> None:
    assert_refused(run("channel", "set", "suport-bot", "production", f"releases/{FEATURE}",
                       "--reason", "x"), "unknown feature 'suport-bot'", "known: ", FEATURE)
    with Store.open(db_url) as store:
        assert "suport-bot" not in store.list_features()


# -- CI ------------------------------------------------------------------------------------------


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def test_changed_since_an_unknown_revision_is_an_error_not_a_green_check(project: Path) -> None:
    assert_refused(run("gate", "--changed-since", "origin/main", "--sim-inprocess"),
                   "not in a git repository")
    _git(project, "init", "-q")
    _git(project, "-c", "user.email=a@b", "-c", "user.name=a", "add", ".")
    _git(project, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "one")
    assert_refused(run("gate", "--changed-since", "origin/mian", "--sim-inprocess"),
                   "unknown git revision (no such revision)", "fetch-depth: 0")


def test_changed_since_on_a_shallow_clone_names_fetch_depth(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for message in ("one", "two"):
        if message == "one":
            _git(project, "init", "-q")
        (project / "NOTES").write_text(message)
        _git(project, "add", ".")
        _git(project, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", message)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{project}", str(clone)],
                   check=True, capture_output=True)
    monkeypatch.chdir(clone)
    assert_refused(run("gate", "--changed-since", "HEAD~1", "--sim-inprocess"),
                   "this clone is shallow", "fetch-depth: 0")


def test_policy_inconclusive_warn_lets_an_inconclusive_gate_exit_0(project: Path) -> None:
    same = ("gate", FEATURE, "-c", f"releases/{FEATURE}", "-b", f"releases/{FEATURE}", "--json")
    policy = project / "policies" / f"{FEATURE}.yaml"
    policy.write_text(policy.read_text().replace("min_cases: 20", "min_cases: 5000"))
    pending = run(*same)
    assert pending.exit_code == 3 and json.loads(pending.stdout)["verdict"] == "inconclusive"
    policy.write_text(policy.read_text() + "\ninconclusive: warn\n")
    warned = run(*same)
    assert warned.exit_code == 0, warned.output
    assert json.loads(warned.stdout)["verdict"] == "inconclusive"  # reported as it is
    assert "policy says `inconclusive: warn`" in warned.stderr


# -- releases made outside the repo ----------------------------------------------------------------


def test_a_release_published_through_the_api_exports_to_files_with_the_same_id(
    project: Path, db_url: str, tmp_path: Path
) -> None:
    from rampway.release import load_release

    ref = candidate(project, "edited in the dashboard.")
    edited = load_release(project / ref, feature=FEATURE)
    with Store.open(db_url) as store:  # as POST /features/support-bot/releases does
        store.publish(FEATURE, edited.digest, edited.id, edited.canonical, actor="api-key",
                      reason="test")
    shutil.rmtree(project / "candidates")
    assert_refused(run("release", "export", FEATURE, edited.id), "already holds files", "--force")
    done = run("release", "export", FEATURE, edited.id, "--force", "--json")
    assert done.exit_code == 0, done.output
    assert sorted(json.loads(done.stdout)["files"]) == sorted(
        ["release.yaml", *edited.files])
    assert load_release(project / "releases" / FEATURE, feature=FEATURE).id == edited.id
    out = tmp_path / "review"
    assert run("release", "export", FEATURE, edited.id, "--out", str(out)).exit_code == 0
    assert load_release(out, feature=FEATURE).id == edited.id


def test_flags_set_cannot_pin_an_ungated_release_past_production(
    project: Path, db_url: str
) -> None:
    """A `.release` flag serves its release in place of production: it needs production's gate
    (one line, exit 2, nothing written); pinning what production serves is fine."""
    ref = candidate(project)
    moved = run("channel", "set", FEATURE, "canary", ref, "--reason", "try")  # unprotected
    assert moved.exit_code == 0, moved.output
    serving, _ = production(db_url)
    pin = json.dumps({"type": "string", "default": "production",
                      "rules": [{"condition": {"plan": "pro"}, "value": "canary"}]})
    assert_refused(run("flags", "set", f"{FEATURE}.release", "--definition", pin,
                       "--reason", "ship"),
                   "flag 'support-bot.release' rule 0", "value 'canary' (support-bot@",
                   "channel 'production' of support-bot is protected", "rampway gate")
    with Store.open(db_url) as store:
        from rampway.flags.store import FlagStore

        assert FlagStore(store).get("flag", f"{FEATURE}.release") is None
    hold = json.dumps({"type": "string", "default": serving})
    assert run("flags", "set", f"{FEATURE}.release", "--definition", hold,
               "--reason", "hold").exit_code == 0


def test_a_model_flag_needs_the_gate_of_production_with_that_model(
    project: Path, db_url: str
) -> None:
    """A `.model` flag serves production's release with another model: refused (exit 2, one
    line, nothing written) until that release — what `model:` edited in release.yaml hashes
    to — has a gate PASS; the refusal's own command records it. `--skip-gate` needs a reason
    and is audited."""
    swap = json.dumps({"type": "string", "default": "sim-large",
                       "rules": [{"condition": {"plan": "pro"}, "value": "sim/sim-large-2"}]})
    assert_refused(run("flags", "set", f"{FEATURE}.model", "--definition", swap),
                   "needs a reason")
    line = assert_refused(run("flags", "set", f"{FEATURE}.model", "--definition", swap,
                              "--reason", "cheaper for pro"),
                          "flag 'support-bot.model' rule 0", "in place of production's",
                          "channel 'production' of support-bot is protected", "--skip-gate")
    with Store.open(db_url) as store:
        from rampway.flags.store import FlagStore

        assert FlagStore(store).get("flag", f"{FEATURE}.model") is None
    assert_refused(run("flags", "set", f"{FEATURE}.model", "--definition", swap, "--skip-gate",
                       "--reason", " "), "needs a reason")
    skipped = run("flags", "set", f"{FEATURE}.model", "--definition", swap, "--skip-gate",
                  "--reason", "pro tier trial, gate infra down", "--json")
    assert skipped.exit_code == 0, skipped.output
    with Store.open(db_url) as store:
        audit = store.list_audit(object_type="flag", object_id=f"{FEATURE}.model")
    assert [(a.action, a.reason) for a in audit if a.action == "flag.skip_gate"] == [
        ("flag.skip_gate", "pro tier trial, gate infra down")]
    # the way without an override: the release the hint names is production's with `model:`
    # edited (what a human edits in release.yaml); once it has a PASS, the flag goes through
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1] / "rollout"))
    from rollout_helpers import give_gate_basis, record_verdict

    from rampway.release import load_release
    from rampway.release.protect import model_swap

    spec = project / "releases" / FEATURE / "release.yaml"
    serving = load_release(spec.parent, feature=FEATURE)
    spec.write_text(spec.read_text().replace("model: sim-large\n", "model: sim-large-2\n", 1))
    edited = load_release(spec.parent, feature=FEATURE)
    assert edited.id == model_swap(serving, "sim", "sim-large-2").id and edited.id in line
    with Store.open(db_url) as store:
        record_verdict(store, edited.id, serving.id, feature=FEATURE,
                       suite_digest=give_gate_basis(project, FEATURE))
    other = json.dumps({"type": "string", "default": "sim-large",
                        "rules": [{"condition": {"plan": "team"}, "value": "sim-large-2"}]})
    ok = run("flags", "set", f"{FEATURE}.model", "--definition", other, "--reason", "gated")
    assert ok.exit_code == 0, ok.output
