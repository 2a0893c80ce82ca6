"""Any OpenAI-compatible server (vLLM, Ollama, llama.cpp server, OpenAI) as a `ChatModel`.

The `openai` client already retries 408/409/429/5xx, connection errors and timeouts with exponential
backoff (honouring Retry-After); we configure it and turn what is left after the retries into nativa
errors that say which server failed and how.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import openai

from nativa.errors import BadInputError, ModelError, ModelNotFoundError, ServerUnreachableError
from nativa.models.base import (
    TOP_LOGPROBS,
    Completion,
    Delta,
    GenerationOptions,
    MessagesLike,
    TokenLogprob,
    as_messages,
    check_n,
    with_seed,
)


class OpenAICompatibleModel:
    """A remote model behind the OpenAI API (vLLM, Ollama, llama.cpp's server, OpenAI): the same `ChatModel`
    contract as the embedded model, so the agent and server never branch on where the model runs.
    """

    provider = "openai"
    remote = True

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 4,
    ) -> None:
        if not model:
            raise BadInputError("an OpenAI-compatible model needs a model name, e.g. openai:gpt-4o-mini")
        self.name = model
        self.base_url = base_url
        self._schema_style = "json_schema"  # or "json_object": how this server takes a JSON schema
        self._logprobs_refused = False  # the server answered 400 to `logprobs` (some reasoning models do)
        # Local servers (vLLM, llama.cpp) accept any key; the client insists on one being set.
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key or "not-needed", timeout=timeout_s, max_retries=max_retries
        )

    def count_tokens(self, text: str) -> int:
        """Remote tokenizers are not reachable through the OpenAI API; ~4 characters a token is the estimate."""
        return max(1, len(text) // 4) if text else 0

    def _estimate_input(self, messages: MessagesLike) -> int:
        """The prompt's size when the server reports no usage: an estimate, flagged on the completion."""
        return sum(self.count_tokens(m.content) for m in as_messages(messages))

    def _request(self, messages: MessagesLike, opts: GenerationOptions) -> dict[str, Any]:
        req: dict[str, Any] = {
            "model": self.name,
            "messages": [m.to_dict() for m in as_messages(messages)],
            "max_tokens": opts.max_tokens,
            "temperature": opts.temperature,
        }
        if opts.stop:
            req["stop"] = list(opts.stop)
        if opts.seed is not None:
            req["seed"] = opts.seed
        if opts.json_schema is not None:
            req["response_format"] = self._response_format(dict(opts.json_schema))
        if opts.logprobs and not self._logprobs_refused:
            req["logprobs"], req["top_logprobs"] = True, TOP_LOGPROBS
        return req

    def _response_format(self, schema: dict[str, Any]) -> dict[str, Any]:
        if self._schema_style == "json_object":
            return {"type": "json_object", "schema": schema}
        return {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}

    def _create(self, req: dict[str, Any]) -> Any:
        """`chat.completions.create`, falling back to what the server takes, once per kind of refusal.

        OpenAI, vLLM and Ollama take `{"type": "json_schema", ...}`; llama-cpp-python's server refuses it
        and takes `{"type": "json_object", "schema": ...}`. Some models refuse `logprobs`; they are then asked
        without it (the completion then carries none, which callers read as "unknown"). The first refusal of
        each switches this model over for later calls.
        """
        while True:
            try:
                return self._client.chat.completions.create(**req)
            except openai.APIStatusError as exc:
                message = _message(exc)
                fmt = req.get("response_format")
                if fmt is not None and self._schema_style == "json_schema" and "response_format" in message:
                    self._schema_style = "json_object"
                    req = req | {"response_format": self._response_format(fmt["json_schema"]["schema"])}
                elif "logprobs" in req and not self._logprobs_refused and "logprobs" in message:
                    self._logprobs_refused = True
                    req = {k: v for k, v in req.items() if k not in ("logprobs", "top_logprobs")}
                else:
                    raise

    def _translate(self, exc: Exception) -> Exception:
        where = self.base_url or "api.openai.com"
        if isinstance(exc, openai.APITimeoutError):
            return ServerUnreachableError(f"model server {where} timed out (after retries)")
        if isinstance(exc, openai.APIConnectionError):
            return ServerUnreachableError(f"model server {where} is unreachable: {exc.__cause__ or exc}")
        if isinstance(exc, openai.NotFoundError):
            return ModelNotFoundError(f"model server {where} does not serve model '{self.name}' (404)")
        if isinstance(exc, openai.BadRequestError):
            return BadInputError(f"model server {where} rejected the request (400): {_message(exc)}")
        if isinstance(exc, openai.APIStatusError):
            return ServerUnreachableError(
                f"model server {where} answered HTTP {exc.status_code} after retries: {_message(exc)}"
            )
        return ModelError(f"model server {where} failed: {exc}")

    def complete(self, messages: MessagesLike, options: GenerationOptions | None = None) -> Completion:
        """One blocking request; the server's usage report gives the token counts."""
        opts = options or GenerationOptions()
        start = time.perf_counter()
        try:
            resp = self._create(self._request(messages, opts))
        except openai.OpenAIError as exc:
            raise self._translate(exc) from exc
        latency = time.perf_counter() - start
        if not resp.choices:
            raise ModelError(f"model server {self.base_url} returned no choices")
        choice = resp.choices[0]
        text = choice.message.content or ""
        return Completion(
            text=text,
            finish_reason=choice.finish_reason or "stop",
            input_tokens=resp.usage.prompt_tokens if resp.usage else self._estimate_input(messages),
            output_tokens=resp.usage.completion_tokens if resp.usage else self.count_tokens(text),
            latency_s=latency,
            model=self.name,
            time_to_first_token_s=None,
            tokens_estimated=resp.usage is None,
            logprobs=_logprobs(choice) if opts.logprobs else None,
        )

    def complete_many(self, messages: MessagesLike, options: GenerationOptions | None = None,
                      n: int = 1) -> list[Completion]:
        """n requests at once, sample i with seed + i (the API's own `n` shares one seed, so it cannot give
        each sample its seed); with temperature 0 all n are the greedy answer: one request, n copies."""
        opts = options or GenerationOptions()
        msgs = as_messages(messages)
        check_n(n)
        if n == 1 or opts.temperature == 0.0:
            first = self.complete(msgs, opts)
            return [first] + [replace(first) for _ in range(n - 1)]
        with ThreadPoolExecutor(max_workers=min(n, 8), thread_name_prefix="nativa-openai") as pool:
            return list(pool.map(lambda i: self.complete(msgs, with_seed(opts, i)), range(n)))

    def stream(self, messages: MessagesLike, options: GenerationOptions | None = None) -> Iterator[Delta]:
        """Stream the answer as the server sends it; the last delta carries the completion (with estimated
        counts, flagged, when the server streams no usage).
        """
        opts = options or GenerationOptions()
        req = self._request(messages, opts) | {"stream": True, "stream_options": {"include_usage": True}}
        start = time.perf_counter()
        ttft: float | None = None
        parts: list[str] = []  # one per content chunk: servers that stream no usage send a token a chunk
        finish = "stop"
        usage = None
        logprobs: list[TokenLogprob] | None = None
        gap = False  # a content chunk came without logprobs: a partial list would overstate the probability
        try:
            for chunk in self._create(req):
                if chunk.usage is not None:
                    usage = chunk.usage
                for choice in chunk.choices:
                    got = _logprobs(choice) if opts.logprobs else None
                    if got:
                        logprobs = (logprobs or []) + got
                    if choice.delta and choice.delta.content:
                        gap = gap or not got
                        if ttft is None:
                            ttft = time.perf_counter() - start
                        parts.append(choice.delta.content)
                        yield Delta(choice.delta.content)
                    if choice.finish_reason:
                        finish = choice.finish_reason
        except openai.OpenAIError as exc:
            raise self._translate(exc) from exc
        text = "".join(parts)
        yield Delta(
            "",
            Completion(
                text=text,
                finish_reason=finish,
                input_tokens=usage.prompt_tokens if usage else self._estimate_input(messages),
                output_tokens=usage.completion_tokens if usage else len(parts),
                latency_s=time.perf_counter() - start,
                model=self.name,
                time_to_first_token_s=ttft,
                tokens_estimated=usage is None,
                logprobs=None if gap else logprobs,
            ),
        )


def _logprobs(choice: Any) -> list[TokenLogprob] | None:
    """The per-token log-probabilities the server sent (`choices[].logprobs.content`), or None when it
    sent none (servers that ignore `logprobs` are allowed to)."""
    content = getattr(getattr(choice, "logprobs", None), "content", None)
    if not content:
        return None
    try:
        return [TokenLogprob(str(t.token), float(t.logprob),
                             tuple((str(a.token), float(a.logprob)) for a in (getattr(t, "top_logprobs", None) or [])))
                for t in content]
    except (AttributeError, TypeError, ValueError):
        return None


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and "message" in err:
            return str(err["message"])
        return str(err)
    return str(exc.message)
