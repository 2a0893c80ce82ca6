"""The contract every model honours, so the agent, the server and the benches never care which one runs.

A `ChatModel` takes chat messages and returns a typed `Completion`; it can also stream text deltas and
constrain its output to a JSON schema. Token counts come from the model's own tokenizer or the server's
usage report, because budgets and benchmarks rely on them; only where a remote server reports no usage
(llama.cpp's server does not when streaming) are they estimated, and the completion says so
(`tokens_estimated`), so a benchmark can leave them out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, Protocol, runtime_checkable

from nativa.errors import BadInputError, SchemaError

Role = Literal["system", "user", "assistant", "tool"]
ROLES: tuple[str, ...] = ("system", "user", "assistant", "tool")


@dataclass(frozen=True, slots=True)
class Message:
    """One chat turn; typed so a malformed role or content is caught at the edge, not inside llama.cpp."""

    role: Role
    content: str

    def to_dict(self) -> dict[str, str]:
        """The `{role, content}` shape chat templates and OpenAI-compatible servers expect."""
        return {"role": self.role, "content": self.content}


MessagesLike = Sequence[Message | Mapping[str, Any]] | str


def as_messages(messages: MessagesLike) -> list[Message]:
    """Accept a bare prompt, dicts or `Message`s, and say exactly which entry is malformed."""
    if isinstance(messages, str):
        return [Message("user", messages)]
    out: list[Message] = []
    for i, m in enumerate(messages):
        if isinstance(m, Message):
            out.append(m)
            continue
        if not isinstance(m, Mapping):
            raise BadInputError(f"messages[{i}] must be a mapping with 'role' and 'content', got {type(m).__name__}")
        role, content = m.get("role"), m.get("content")
        if role not in ROLES:
            raise BadInputError(f"messages[{i}].role is {role!r}; valid roles: {', '.join(ROLES)}")
        if not isinstance(content, str):
            raise BadInputError(f"messages[{i}].content must be a string, got {type(content).__name__}")
        out.append(Message(role, content))
    if not out:
        raise BadInputError("messages is empty; give at least one message with role 'user'")
    return out


FinishReason = Literal["stop", "length", "error"]


TOP_LOGPROBS = 10  # alternatives kept per output token when logprobs are asked for


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """One output token and the log-probability the model gave it before sampling, with the most likely
    alternatives at that step (`top`, best first): the model's own confidence, which a caller can read, and
    renormalise over the answers a schema allowed, without asking the model to write a number about itself."""

    text: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass(slots=True)
class Completion:
    """One model answer with the numbers a trace and a benchmark need."""

    text: str
    finish_reason: str
    input_tokens: int
    output_tokens: int
    latency_s: float
    model: str
    time_to_first_token_s: float | None = None
    tokens_estimated: bool = False  # True only when a remote server reported no usage
    logprobs: list[TokenLogprob] | None = None  # only when asked (`GenerationOptions.logprobs`) and supported

    @property
    def tokens_per_s(self) -> float:
        """Generation speed after the first token, the figure benchmarks compare (prompt evaluation excluded).
        """
        gen = self.latency_s - (self.time_to_first_token_s or 0.0)
        return self.output_tokens / gen if gen > 0 and self.output_tokens else 0.0

    def json(self) -> Any:
        """Parse the text as JSON (for schema-constrained completions)."""
        try:
            return json.loads(self.text)
        except json.JSONDecodeError as exc:
            raise SchemaError(f"model output is not valid JSON ({exc.msg} at char {exc.pos}): {self.text[:200]!r}") from None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for `--json` output and API bodies."""
        return asdict(self)


@dataclass(slots=True)
class Delta:
    """A streamed piece of text; the last delta carries the finished `Completion`."""

    text: str
    completion: Completion | None = None


@dataclass(frozen=True, slots=True)
class GenerationOptions:
    """How to generate, validated on construction so a bad budget or schema is the caller's error before any
    model time is spent.
    """

    max_tokens: int = 512
    temperature: float = 0.0
    stop: tuple[str, ...] = ()
    json_schema: Mapping[str, Any] | None = None
    seed: int | None = 0
    logprobs: bool = False  # ask for each output token's log-probability (None on models that cannot give it)

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise BadInputError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if not 0.0 <= self.temperature <= 2.0:
            raise BadInputError(f"temperature must be between 0 and 2, got {self.temperature}")
        if self.json_schema is not None:
            validate_schema(self.json_schema)


def validate_schema(schema: Any) -> None:
    """Reject schemas that would make grammar compilation fail deep inside llama.cpp with a cryptic error."""
    if not isinstance(schema, Mapping):
        raise SchemaError(f"a JSON schema must be a JSON object, got {type(schema).__name__}")
    if "type" not in schema and not any(k in schema for k in ("properties", "anyOf", "oneOf", "allOf", "enum", "$ref")):
        raise SchemaError("the JSON schema has no 'type' (or properties/anyOf/enum); e.g. {\"type\": \"object\", ...}")


@runtime_checkable
class ChatModel(Protocol):
    """Anything that can answer chat messages. Implementations: LocalModel, OpenAICompatibleModel, ScriptedModel."""

    name: str
    provider: str
    remote: bool

    def complete(self, messages: MessagesLike, options: GenerationOptions | None = None) -> Completion:
        """One answer to the messages, with its finish reason and token counts (the model's tokenizer or the
        server's usage report; `tokens_estimated` when neither was available)."""
        ...

    def complete_many(self, messages: MessagesLike, options: GenerationOptions | None = None,
                      n: int = 1) -> list[Completion]:
        """n samples of one prompt (the agent's candidates), each with its own text, finish reason and token
        counts; `input_tokens` is the prompt's count on each. Sample i uses seed `options.seed + i` (when the
        seed is set) at `options.temperature`; with temperature 0 all n are the greedy answer."""
        ...

    def stream(self, messages: MessagesLike, options: GenerationOptions | None = None) -> Iterator[Delta]:
        """The answer as it is generated; the last `Delta` carries the whole `Completion`, so a streaming
        caller gets the same counts and finish reason as a blocking one."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes in this model's context, so the memory and the agent can budget prompts
        (exact for a local model, estimated for a remote one)."""
        ...


def check_n(n: int) -> int:
    """`complete_many`'s n, refused with a message that says what would be valid."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise BadInputError(f"n must be a whole number >= 1, got {n!r}")
    return n


def with_seed(options: GenerationOptions, i: int) -> GenerationOptions:
    """The options of sample i of a draw: seed `options.seed + i` (an unset seed stays unset)."""
    return options if options.seed is None or i == 0 else replace(options, seed=options.seed + i)


def collect(deltas: Iterable[Delta]) -> Completion:
    """Drain a stream and return its completion (the streaming path must agree with the blocking one)."""
    last: Completion | None = None
    for d in deltas:
        if d.completion is not None:
            last = d.completion
    if last is None:
        raise RuntimeError("stream ended without a completion")
    return last


@dataclass(slots=True)
class ModelInfo:
    """What `nativa models` lists for each model."""

    name: str
    source: str
    path: str | None
    size_bytes: int | None
    verified: bool
    loaded: bool
    installed: bool = True
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for `nativa models --json`."""
        return asdict(self)
