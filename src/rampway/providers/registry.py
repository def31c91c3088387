"""Build the named providers a project configures, once, and look them up by name.

    providers:                           # rampway.yaml
      openai:    {kind: openai, api_key_env: OPENAI_API_KEY}
      claude:    {kind: anthropic, api_key_env: ANTHROPIC_API_KEY}
      vllm:      {kind: openai, base_url: "http://10.0.0.5:8000/v1"}
      sim:       {kind: sim}             # in-process simulator (no base_url)
      sim-http:  {kind: sim, base_url: "http://127.0.0.1:8900/v1"}
      local:     {kind: local}           # in-process llama.cpp, needs rampway[local]

Adapter settings go under `options:` and are checked here (unknown ones are errors):
    openai / sim over HTTP: headers, max_connections, connect_timeout (seconds)
    anthropic:              headers, max_connections, connect_timeout, anthropic_version,
                            default_max_tokens
    sim in-process:         config (path of a sim YAML file)
    local:                  model, path, n_ctx, n_threads (see `rampway.providers.local`)

Credentials come only from the environment variable named by `api_key_env`; a missing one is a
ConfigError at build time, before any network call. The key itself is handed to the adapter and
never stored on the registry, formatted into messages or logged.

Not a process-global: whoever builds the registry owns it and closes it (`await reg.aclose()`).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Iterator, Mapping
from typing import Any

from rampway.errors import ConfigError
from rampway.providers.anthropic import DEFAULT_BASE_URL as ANTHROPIC_URL
from rampway.providers.anthropic import AnthropicProvider
from rampway.providers.openai_compat import DEFAULT_BASE_URL as OPENAI_URL
from rampway.providers.openai_compat import OpenAICompatProvider
from rampway.providers.types import Provider

KINDS = ("openai", "anthropic", "sim", "local")
# Official endpoints need a key; if the config names no variable, use the SDKs' usual one.
_DEFAULT_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
_TOP_LEVEL = frozenset({"kind", "base_url", "api_key_env", "api_key", "options"})
_OPTIONS = {
    "openai": frozenset({"headers", "max_connections", "connect_timeout"}),
    "anthropic": frozenset(
        {"headers", "max_connections", "connect_timeout", "anthropic_version",
         "default_max_tokens"}
    ),
    # `config` names the in-process sim's YAML; over HTTP the server owns its config, so it is
    # accepted and unused (a project can point its sim provider at a server without editing it)
    "sim-http": frozenset({"headers", "max_connections", "connect_timeout", "config"}),
    "sim": frozenset({"config"}),
}


class ProviderRegistry:
    """Named, already-built providers. `get` of an unknown name is a ConfigError."""

    __slots__ = ("_kinds", "_providers", "_unavailable")

    def __init__(
        self,
        providers: Mapping[str, Provider],
        kinds: Mapping[str, str],
        unavailable: Mapping[str, ConfigError] | None = None,
    ) -> None:
        self._providers = dict(providers)
        self._kinds = dict(kinds)
        # Configured but not installable here (e.g. `local` without the extra): the error is
        # raised when a release actually uses the provider, not for the whole project.
        self._unavailable = dict(unavailable or {})

    def get(self, name: str) -> Provider:
        provider = self._providers.get(name)
        if provider is None:
            if name in self._unavailable:
                raise self._unavailable[name]
            known = ", ".join(sorted(self._providers)) or "none configured"
            raise ConfigError(f"unknown provider {name!r} (configured: {known})")
        return provider

    def kind(self, name: str) -> str:
        """The wire kind of a configured provider (catalog entries may be keyed by it)."""
        self.get(name)
        return self._kinds[name]

    def names(self) -> list[str]:
        return sorted(self._providers)

    def __contains__(self, name: object) -> bool:
        return name in self._providers

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._providers)

    def __repr__(self) -> str:
        return f"ProviderRegistry({self.names()!r})"

    async def aclose(self) -> None:
        """Close every provider's connection pool."""
        for provider in self._providers.values():
            await provider.aclose()


class MissingExtra(ConfigError):
    """A provider kind whose optional dependencies are not installed."""


def build_providers(
    config: Mapping[str, Any], *, env: Mapping[str, str] | None = None
) -> ProviderRegistry:
    """Build every configured provider; the first bad entry raises ConfigError naming it."""
    env = os.environ if env is None else env
    built: dict[str, Provider] = {}
    kinds: dict[str, str] = {}
    unavailable: dict[str, ConfigError] = {}
    # Half-built providers on error need no cleanup: their clients open no sockets until used.
    for name, raw in config.items():
        entry = _settings(_as_dict(raw, name), name)
        kinds[name] = _kind(entry, name)
        try:
            built[name] = _build_one(name, kinds[name], entry, env)
        except MissingExtra as exc:
            unavailable[name] = exc
    return ProviderRegistry(built, kinds, unavailable)


def _build_one(name: str, kind: str, entry: Mapping[str, Any], env: Mapping[str, str]) -> Provider:
    base_url = _opt_str(entry, "base_url", name)
    if kind == "local":
        return _build_local(name, entry)
    flavour = "sim-http" if kind == "sim" and base_url is not None else kind
    unknown = sorted(set(entry) - _TOP_LEVEL - _OPTIONS[flavour])
    if unknown:
        allowed = ", ".join(sorted(_OPTIONS[flavour])) or "none"
        raise ConfigError(
            f"provider {name!r}: unknown option(s) {', '.join(unknown)} for kind {kind} "
            f"(allowed: {allowed})"
        )
    if flavour == "sim":
        return _build_sim(name, entry)
    api_key = _api_key(name, kind, entry, env, official=base_url is None)
    headers = _headers(entry, name)
    max_conn = _opt_int(entry, "max_connections", name) or 100
    connect = _opt_seconds(entry, "connect_timeout", name)
    if kind == "anthropic":
        return AnthropicProvider(
            name,
            base_url=base_url or ANTHROPIC_URL,
            api_key=api_key,
            version=_opt_str(entry, "anthropic_version", name) or "2023-06-01",
            default_max_tokens=_opt_int(entry, "default_max_tokens", name) or 4096,
            headers=headers,
            max_connections=max_conn,
            connect_timeout=connect,
        )
    return OpenAICompatProvider(
        name,
        base_url=base_url or OPENAI_URL,
        api_key=api_key,
        headers=headers,
        max_connections=max_conn,
        connect_timeout=connect,
    )


def _api_key(
    name: str, kind: str, entry: Mapping[str, Any], env: Mapping[str, str], *, official: bool
) -> str | None:
    """The key from the env var named in config. Never read from the config file itself."""
    if entry.get("api_key") is not None:
        raise ConfigError(
            f"provider {name!r}: put the key in an environment variable and name it with "
            "`api_key_env`; keys in config files end up in git"
        )
    var = _opt_str(entry, "api_key_env", name)
    if var is None and official:
        var = _DEFAULT_KEY_ENV.get(kind)
    if var is None:
        return None
    value = env.get(var, "").strip()
    if not value:
        raise ConfigError(f"provider {name!r}: environment variable {var} is not set (api_key_env)")
    return value


def _build_sim(name: str, entry: Mapping[str, Any]) -> Provider:
    """The in-process simulator; `config:` may point at a sim YAML file."""
    from rampway.providers import sim

    path = _opt_str(entry, "config", name)
    config = sim.load_sim_config(path)
    provider: Provider = sim.SimProvider(config, name=name)
    return provider


def _build_local(name: str, entry: Mapping[str, Any]) -> Provider:
    """In-process llama.cpp. Contract for `rampway.providers.local`: `build(name, config)`."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise MissingExtra(
            f"provider {name!r} (kind local) needs the local extra: pip install 'rampway[local]'"
        )
    try:
        module = importlib.import_module("rampway.providers.local")
    except ImportError as exc:
        raise ConfigError(
            f"provider {name!r} (kind local): in-process llama.cpp support is not available "
            f"in this build ({exc})"
        ) from exc
    provider: Provider = module.build(name, dict(entry))
    return provider


def _settings(entry: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Top-level keys plus the `options:` mapping, flattened (a key may not be in both)."""
    options = entry.get("options") or {}
    if not isinstance(options, Mapping):
        raise ConfigError(f"provider {name!r}: options must be a mapping")
    clash = sorted(set(options) & _TOP_LEVEL)
    if clash:
        raise ConfigError(f"provider {name!r}: {', '.join(clash)} belongs outside options:")
    flat = {k: v for k, v in entry.items() if k != "options"}
    flat.update(options)
    return flat


def _as_dict(raw: Any, name: str) -> Mapping[str, Any]:
    if hasattr(raw, "model_dump"):
        raw = raw.model_dump()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"provider {name!r}: expected a mapping, got {type(raw).__name__}")
    return raw


def _kind(entry: Mapping[str, Any], name: str) -> str:
    kind = entry.get("kind")
    if kind not in KINDS:
        raise ConfigError(
            f"provider {name!r}: kind must be one of {', '.join(KINDS)}, got {kind!r}"
        )
    return str(kind)


def _opt_str(entry: Mapping[str, Any], key: str, name: str) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"provider {name!r}: {key} must be a non-empty string")
    return value.strip()


def _opt_int(entry: Mapping[str, Any], key: str, name: str) -> int | None:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"provider {name!r}: {key} must be a positive integer")
    return value


def _opt_seconds(entry: Mapping[str, Any], key: str, name: str) -> float | None:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 600:
        raise ConfigError(f"provider {name!r}: {key} must be a number of seconds in (0, 600]")
    return float(value)


def _headers(entry: Mapping[str, Any], name: str) -> dict[str, str]:
    headers = entry.get("headers") or {}
    if not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise ConfigError(f"provider {name!r}: headers must map strings to strings")
    return dict(headers)


__all__ = ["KINDS", "ProviderRegistry", "build_providers"]
