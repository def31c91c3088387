"""One exception tree for all of rampway.

Foreign errors (httpx, SQLAlchemy, YAML, Jinja2) are translated at the seam where they occur;
nothing above a seam catches a foreign exception type.

    RampwayError                      code            http
    ├── ConfigError                   invalid_config  400   bad user input: files, flags, refs
    │   ├── ReleaseError              invalid_release 400   names file (and line when known)
    │   │   └── UnroutableRelease     unroutable_model 422  a model the gateway could not route
    │   ├── FlagError                 invalid_flag    400   names flag, rule, key path (file:line)
    │   │   ├── UnroutableFlag        unroutable_model 422  a `.model` flag value it could not route
    │   │   └── ProtectedFlag         channel_protected 422 a `.release` pin, no gate PASS
    │   ├── ChannelProtected          channel_protected 422 protected channel, no gate PASS/approval
    │   ├── ReasonRequired            reason_required 422   an audited write with an empty reason
    │   ├── RefError                  unknown_ref     404   release id / channel / git rev not found
    │   └── StateConflict             state_conflict  409   command ruled out by the current state
    ├── RequestError                  invalid_request_error 400  malformed API request (gateway/SDK)
    │   ├── AuthenticationError       invalid_api_key 401   missing or wrong app key
    │   ├── PermissionDenied          permission_denied 403 app key not allowed for this feature
    │   └── PayloadTooLarge           request_too_large 413 body over the gateway's size limit
    ├── ServingError                  gateway_misconfigured 500  the served release can't be routed
    ├── Overloaded                    overloaded      503   a bounded queue is full; retry later
    ├── FeatureDisabled               feature_disabled 503  a kill-switch flag switched it off
    ├── StoreError                    store_error     500
    │   └── ConflictError             conflict        409   optimistic-concurrency write lost
    └── ProviderError                 api_error       502   an upstream model call failed
        ├── RateLimited               rate_limit_exceeded 429   retryable, may carry retry_after
        ├── ProviderUnavailable       server_error    503   5xx upstream, retryable
        ├── ProviderTimeout           timeout         504   retryable
        ├── ProviderConnectionError   connection_error 502  retryable
        ├── StreamInterrupted         stream_interrupted 502 cut after bytes reached the client
        ├── ContextWindowExceeded     context_length_exceeded 400  falls back to a larger model
        ├── ProviderAuthError         upstream_auth_error 502   gateway's key refused, never retried
        ├── ProviderBadRequest        invalid_request_error 400 never retried
        └── CircuitOpen               circuit_open    503   breaker refused the attempt locally

`code` maps to the OpenAI error body's `type`/`code`; `http_status` is what the gateway answers.
"""

from __future__ import annotations

from typing import Any


class RampwayError(Exception):
    code = "rampway_error"
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(RampwayError):
    """A definition or setting is invalid. `param`, when set, names the offending field of an
    API request body (`definition.arms.0.weight`); a file's errors name file, line and key in
    the message instead."""

    code = "invalid_config"
    http_status = 400

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class ReleaseError(ConfigError):
    """A release file is invalid. The message starts with `file[:line]:`."""

    code = "invalid_release"

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None) -> None:
        where = file or ""
        if file and line:
            where = f"{file}:{line}"
        super().__init__(f"{where}: {message}" if where else message)
        self.file = file
        self.line = line


class FlagError(ConfigError):
    """A flag or segment definition is invalid; refused as a whole at compile time.

    The message reads `file:line: flag 'k' rule 2 condition.plan.$in: must be a list`, with the
    parts that are known. `flag`, `rule` (0-based index) and `path` (keys inside the rule or
    segment) stay available as attributes so an API can point at the offending field.
    """

    code = "invalid_flag"

    def __init__(
        self,
        message: str,
        *,
        flag: str | None = None,
        rule: int | None = None,
        path: str = "",
        file: str | None = None,
        line: int | None = None,
    ) -> None:
        subject = "" if flag is None else f"flag '{flag}'"
        if subject and rule is not None:
            subject += f" rule {rule}"
        where = " ".join(p for p in (subject, path) if p)
        prefix = f"{file}:{line}" if file and line else (file or "")
        super().__init__(": ".join(p for p in (prefix, where, message) if p))
        self.reason = message
        self.flag = flag
        self.rule = rule
        self.path = path
        self.file = file
        self.line = line


class UnroutableRelease(ReleaseError):
    """A release (or a fallback) names a model the gateway could not route: no such provider
    in rampway.yaml, or no catalog entry for the model. 422: the request is well-formed, the
    project cannot serve it; refused before anything is written, so no request ever 500s."""

    code = "unroutable_model"
    http_status = 422


class UnroutableFlag(FlagError):
    """A `<feature>.model` flag value the gateway could not route (see UnroutableRelease)."""

    code = "unroutable_model"
    http_status = 422


class ProtectedFlag(FlagError):
    """A `<feature>.release` flag value that would serve, in place of a protected channel, a
    release that channel could not be moved to (see ChannelProtected); names flag and rule."""

    code = "channel_protected"
    http_status = 422


class ChannelProtected(ConfigError):
    """A protected channel (rampway.yaml `channels:`, `production` by default) may only point at
    a release with a recorded gate PASS (and/or an approval); `--skip-gate --reason` by an admin
    overrides, audited. 422: well-formed, but the release has not earned the channel."""

    code = "channel_protected"
    http_status = 422


class ReasonRequired(ConfigError):
    """An audited write (a flag, a channel move, an override, a rollout command, an experiment
    start or stop) whose reason is empty or blank. The audit log is how an incident is
    reconstructed, so "why" is part of the write, not decoration. 422 with `param` naming the
    field, like a refused interlock: the request is well-formed JSON, its content is not
    acceptable. `rampway._reason.require_reason` raises it for every road."""

    code = "reason_required"
    http_status = 422

    def __init__(self, message: str, *, param: str = "reason") -> None:
        super().__init__(message)
        self.param = param


class RefError(ConfigError):
    code = "unknown_ref"
    http_status = 404


class StateConflict(ConfigError):
    """A well-formed command that the object's current state rules out: resume a rollout that
    is not paused, pause one that already completed, start a second rollout on a feature.

    409 (the request conflicts with the target's current state, RFC 9110 §15.5.10), not 400:
    the same request may succeed later, and a client can tell "fix your input" from "look at
    the state, then decide". Unlike `ConflictError` nothing raced: the state was read and it
    says no. A ConfigError still, so callers handling bad input (the CLI: one line, exit 2)
    need no new case.
    """

    code = "state_conflict"
    http_status = 409


class RequestError(RampwayError):
    """An API request is malformed. `param` names the offending field when known."""

    code = "invalid_request_error"
    http_status = 400

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class AuthenticationError(RequestError):
    code = "invalid_api_key"
    http_status = 401


class PermissionDenied(RequestError):
    code = "permission_denied"
    http_status = 403


class PayloadTooLarge(RequestError):
    code = "request_too_large"
    http_status = 413


class ServingError(RampwayError):
    """The gateway cannot serve a valid request (e.g. its release names an unknown provider):
    the operator's problem, not the caller's, hence a 5xx and not the ConfigError's 400."""

    code = "gateway_misconfigured"
    http_status = 500


class Overloaded(RampwayError):
    code = "overloaded"
    http_status = 503


class FeatureDisabled(RampwayError):
    """A feature's `enabled` flag is off and no fallback answer is configured."""

    code = "feature_disabled"
    http_status = 503


class StoreError(RampwayError):
    code = "store_error"
    http_status = 500


class ConflictError(StoreError):
    code = "conflict"
    http_status = 409


class ProviderError(RampwayError):
    """An upstream call failed. `retryable` errors may be retried or fall back."""

    code = "api_error"
    http_status = 502
    retryable = False
    falls_back = True

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        model: str = "",
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.model = model
        self.status = status
        self.retry_after = retry_after
        # Filled by the router when it gives up: one `rampway.router.Attempt` per try, so the
        # caller can report which models were tried and why each failed.
        self.attempts: list[Any] = []


class RateLimited(ProviderError):
    code = "rate_limit_exceeded"
    http_status = 429
    retryable = True


class ProviderUnavailable(ProviderError):
    code = "server_error"
    http_status = 503
    retryable = True


class ProviderTimeout(ProviderError):
    code = "timeout"
    http_status = 504
    retryable = True


class ProviderConnectionError(ProviderError):
    code = "connection_error"
    http_status = 502
    retryable = True


class StreamInterrupted(ProviderError):
    code = "stream_interrupted"
    http_status = 502
    retryable = True


class ContextWindowExceeded(ProviderError):
    code = "context_length_exceeded"
    http_status = 400


class ProviderAuthError(ProviderError):
    """The upstream refused the *gateway's* credentials (401/403). Not the app's fault, so not
    a 401: an app seeing 401 + WWW-Authenticate would blame (and rotate) its own key."""

    code = "upstream_auth_error"
    http_status = 502
    falls_back = False


class ProviderBadRequest(ProviderError):
    code = "invalid_request_error"
    http_status = 400
    falls_back = False


class CircuitOpen(ProviderError):
    code = "circuit_open"
    http_status = 503


__all__ = [
    "AuthenticationError",
    "ChannelProtected",
    "CircuitOpen",
    "ConfigError",
    "ConflictError",
    "ContextWindowExceeded",
    "FeatureDisabled",
    "FlagError",
    "Overloaded",
    "PayloadTooLarge",
    "PermissionDenied",
    "ProtectedFlag",
    "ProviderAuthError",
    "ProviderBadRequest",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeout",
    "ProviderUnavailable",
    "RampwayError",
    "RateLimited",
    "ReasonRequired",
    "RefError",
    "ReleaseError",
    "RequestError",
    "ServingError",
    "StateConflict",
    "StoreError",
    "StreamInterrupted",
    "UnroutableFlag",
    "UnroutableRelease",
]
