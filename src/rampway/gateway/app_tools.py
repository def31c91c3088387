"""App-sent `tools` / `tool_choice` on a release that owns its tools: merged, replacing or refused
— never silently ignored.

A release owns its tools when it is managed (it owns the prompt, and the tools are part of what
a gate evaluated) or declares tools. Its `tools_from_app` says what an app's tools do:

    refuse   (default) 400 unless every app tool is one of the release's own (same definition);
             a `tool_choice` may still pick one of the release's tools
    merge    the release's tools, then the app's; an app tool with a release tool's name but a
             different definition is a 400 (the release's definition would otherwise lose or win
             silently)
    replace  the app's tools, when it sends any, stand in for the release's

A release that owns nothing (passthrough, no tools) forwards the app's tools as they are. In every
case a `tool_choice` naming a function must name one of the tools the request ends up with.
Pure: the pipeline calls `combine_tools` while building the upstream request (gateway and SDK).

Example:
    combine_tools("merge", "support-bot@3f2a9c1e", release_tools, app_tools, "required")
    # → (release_tools + app_tools, "required")
"""

from __future__ import annotations

from typing import Any, Literal

from rampway.errors import RequestError

Rule = Literal["refuse", "merge", "replace"]
Tools = list[dict[str, Any]]
Choice = str | dict[str, Any] | None


def combine_tools(rule: Rule | None, owner: str | None, release_tools: Tools | None,
                  app_tools: Tools | None, app_choice: Choice) -> tuple[Tools | None, Choice]:
    """The request's (tools, tool_choice). `owner` is the release id when the release owns its
    tools, None when the app's tools pass through."""
    _check_unique(app_tools)
    if owner is None or rule == "replace":
        tools = app_tools or release_tools
    elif rule == "merge":
        tools = _merge(owner, release_tools or [], app_tools or [])
    else:
        _refuse_foreign(owner, release_tools or [], app_tools or [])
        tools = release_tools
    _check_choice(app_choice, tools, owner, rule)
    return tools or None, app_choice


def _function(tool: dict[str, Any]) -> dict[str, Any]:
    """The function definition without unset fields, for comparing an app's tool with a
    release's (`{"strict": null}` and an absent `strict` are the same tool)."""
    fn = tool.get("function") or {}
    return {k: v for k, v in fn.items() if v is not None}


def _name(tool: dict[str, Any]) -> str:
    return str((tool.get("function") or {}).get("name"))


def _check_unique(app_tools: Tools | None) -> None:
    names = [_name(t) for t in app_tools or ()]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise RequestError(f"'tools' declares {dupes[0]!r} twice", param="tools")


def _refuse_foreign(owner: str, release_tools: Tools, app_tools: Tools) -> None:
    own = {_name(t): _function(t) for t in release_tools}
    for tool in app_tools:
        name = _name(tool)
        if own.get(name) != _function(tool):
            what = "a different definition of its tool" if name in own else "the tool"
            raise RequestError(
                f"release {owner} owns its tools (tools_from_app: refuse) and the app sent "
                f"{what} {name!r}: drop 'tools' from the request, or declare "
                "tools_from_app: merge or replace in the release", param="tools")


def _merge(owner: str, release_tools: Tools, app_tools: Tools) -> Tools:
    own = {_name(t): _function(t) for t in release_tools}
    merged = list(release_tools)
    for tool in app_tools:
        name = _name(tool)
        if name not in own:
            merged.append(tool)
        elif own[name] != _function(tool):
            raise RequestError(
                f"the app's tool {name!r} differs from the one release {owner} declares "
                "(tools_from_app: merge adds tools, it does not redefine them)", param="tools")
    return merged


def _check_choice(choice: Choice, tools: Tools | None, owner: str | None,
                  rule: Rule | None) -> None:
    if choice == "required" and not tools:
        raise RequestError("'tool_choice' is 'required' but the request has no tools",
                           param="tool_choice")
    if not isinstance(choice, dict):
        return
    wanted = str((choice.get("function") or {}).get("name"))
    if any(_name(t) == wanted for t in tools or ()):
        return
    whose = (f"release {owner} (tools_from_app: {rule or 'refuse'})" if owner is not None
             else "the request")
    raise RequestError(f"'tool_choice' names {wanted!r}, which is not a tool of {whose}",
                       param="tool_choice")


__all__ = ["Rule", "combine_tools"]
