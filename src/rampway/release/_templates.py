"""Prompt templates: sandboxed Jinja2 with strict undefined variables.

Sandboxed because release files are reviewed text, not trusted code; strict because a missing
variable silently rendering as "" is exactly the kind of prompt bug that slips through review.
Parsing (for validation and variable analysis) happens at load time; compiling to Python happens
lazily, once per Release, on first render.
"""

from __future__ import annotations

from collections.abc import Mapping

from jinja2 import StrictUndefined, Template, TemplateError, UndefinedError, nodes
from jinja2.meta import find_undeclared_variables
from jinja2.sandbox import SandboxedEnvironment

from rampway.errors import ReleaseError

# Prompts are plain text sent to a model, not HTML, so HTML autoescaping would corrupt them.
_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)  # noqa: S701


def template_variables(source: str, *, file: str, line_offset: int = 0) -> dict[str, int]:
    """Variables a template reads from its context → the line of their first use.

    Raises ReleaseError naming `file:line` on a syntax error. `line_offset` shifts lines for inline
    templates embedded in release.yaml.
    """
    try:
        ast = _ENV.parse(source)
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        at = (line or 1) + line_offset if line or line_offset else None
        raise ReleaseError(f"template syntax error: {exc.message}", file=file, line=at) from exc
    free = find_undeclared_variables(ast) - set(_ENV.globals)
    lines: dict[str, int] = {}
    for name in ast.find_all(nodes.Name):
        if name.name in free and name.ctx == "load":
            first = lines.get(name.name, name.lineno)
            lines[name.name] = min(first, name.lineno)
    return {name: lines.get(name, 1) + line_offset for name in sorted(free)}


def compile_template(source: str) -> Template:
    return _ENV.from_string(source)


def render_template(template: Template, context: Mapping[str, object], *, where: str) -> str:
    """Render; a missing variable or a sandbox violation becomes a ReleaseError naming it."""
    try:
        return template.render(context)
    except UndefinedError as exc:
        raise ReleaseError(f"{where}: template variable missing: {exc.message}") from exc
    except TemplateError as exc:
        raise ReleaseError(f"{where}: template error: {exc.message}") from exc
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise ReleaseError(f"{where}: template error: {exc}") from exc


__all__ = ["compile_template", "render_template", "template_variables"]
