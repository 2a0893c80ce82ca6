"""Request and response bodies, typed, so FastAPI validates them and the OpenAPI schema documents them.

The chat shapes follow OpenAI's `/v1/chat/completions` closely enough that the official client works
unchanged; fields nativa cannot honour (several choices, tool calls, log probabilities) are refused with a
message instead of being silently ignored, because a client relying on them would get wrong answers.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nativa.agent.result import Attempt
from nativa.models.base import TOP_LOGPROBS

Role = Literal["system", "user", "assistant", "tool"]
ReviewMode = Literal["never", "risky", "always"]
_REVIEW_DOC = ("never | risky (pause for approval when a finding is medium or high) | always (pause before "
               "every candidate or call); default: ")


class TextPart(BaseModel):
    """One part of a message's content list; only text parts are accepted, so an image part is refused."""
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    """One chat turn as OpenAI sends it; extra fields (name, ...) are kept rather than refused."""
    model_config = ConfigDict(extra="allow")

    role: Role
    content: str | list[TextPart] = Field(description="Text, or a list of text parts (no images).")

    def text(self) -> str:
        """The content as one string, whichever of the two shapes the client sent."""
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)


class JsonSchemaFormat(BaseModel):
    """The `json_schema` of a structured-output request; `schema` is aliased (pydantic owns the name)."""
    model_config = ConfigDict(populate_by_name=True)

    name: str = Field("output", max_length=64)
    description: str | None = None
    schema_: dict[str, Any] = Field(alias="schema", description="The JSON schema the answer must match.")
    strict: bool | None = None


class ResponseFormatText(BaseModel):
    """`response_format` asking for plain text: the same as leaving it out."""
    type: Literal["text"]


class ResponseFormatJsonObject(BaseModel):
    """`response_format` asking for any JSON object (constrained as the schema `{"type": "object"}`)."""
    type: Literal["json_object"]


class ResponseFormatJsonSchema(BaseModel):
    """`response_format` asking for an answer that matches the given JSON schema."""
    type: Literal["json_schema"]
    json_schema: JsonSchemaFormat


ResponseFormat = Annotated[ResponseFormatText | ResponseFormatJsonObject | ResponseFormatJsonSchema,
                           Field(discriminator="type")]


class StreamOptions(BaseModel):
    """OpenAI's stream options: `include_usage` adds a last chunk with the token counts."""
    include_usage: bool = False


_UNSUPPORTED = {
    "tools": "tool calls are not supported on this endpoint; use POST /v1/run for the tool agent",
    "functions": "function calls are not supported; use POST /v1/run for the tool agent",
    "tool_choice": "tool calls are not supported on this endpoint; use POST /v1/run for the tool agent",
}


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat completion request; unknown fields (top_p, user, ...) are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=512, description="A served model; GET /v1/models lists them.")
    messages: list[ChatMessage] = Field(min_length=1, max_length=1000)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(None, ge=1, le=32768)
    max_completion_tokens: int | None = Field(None, ge=1, le=32768)
    stop: str | list[str] | None = Field(None, description="Up to 4 stop sequences.")
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    response_format: ResponseFormat | None = None
    n: int = Field(1, ge=1, le=1, description="Only one choice per request is supported.")
    logprobs: bool | None = Field(None, description=(
        "Each output token's log-probability in choices[0].logprobs (non-streamed only); null when the model "
        "cannot give them."))
    top_logprobs: int | None = Field(None, ge=0, le=20, description=(
        f"Alternatives per token with `logprobs` (embedded models keep at most {TOP_LOGPROBS})."))
    session: str | None = Field(None, min_length=1, max_length=200, description=(
        "nativa: a session (POST /v1/sessions) that keeps the history; send only the new message"))

    @model_validator(mode="after")
    def _supported(self) -> ChatCompletionRequest:
        for name, why in _UNSUPPORTED.items():
            if (self.model_extra or {}).get(name):
                raise ValueError(f"'{name}': {why}")
        if self.top_logprobs is not None and not self.logprobs:
            raise ValueError("'top_logprobs' needs 'logprobs': true")
        if self.logprobs and self.stream:
            raise ValueError("'logprobs' with 'stream': log probabilities come only on non-streamed "
                             "completions; send stream false or omit logprobs")
        if isinstance(self.stop, list) and len(self.stop) > 4:
            raise ValueError(f"'stop' has {len(self.stop)} sequences; at most 4 are allowed")
        return self

    def stops(self) -> tuple[str, ...]:
        """The stop sequences as a tuple, whether the client sent one string, a list or none."""
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)

    def json_schema(self) -> dict[str, Any] | None:
        """The schema the answer must match, or None when `response_format` leaves the text free."""
        fmt = self.response_format
        if isinstance(fmt, ResponseFormatJsonSchema):
            return fmt.json_schema.schema_
        if isinstance(fmt, ResponseFormatJsonObject):
            return {"type": "object"}
        return None


class AssistantMessage(BaseModel):
    """The model's reply inside a choice."""
    role: Literal["assistant"] = "assistant"
    content: str


class TopLogprob(BaseModel):
    """One alternative at a step, as OpenAI's clients read it."""
    token: str
    logprob: float
    bytes: list[int]


class TokenLogprobOut(TopLogprob):
    """One output token, its log-probability and the most likely alternatives at that step."""
    top_logprobs: list[TopLogprob] = Field(default_factory=list)


class ChoiceLogprobs(BaseModel):
    """The output tokens' log-probabilities, when the request asked for them."""
    content: list[TokenLogprobOut]
    refusal: None = None


class Choice(BaseModel):
    """The one choice a completion carries (`n` is fixed at 1); `logprobs` only when asked and given."""
    index: int = 0
    message: AssistantMessage
    finish_reason: str
    logprobs: ChoiceLogprobs | None = None


class Usage(BaseModel):
    """Token counts for a completion, as OpenAI's clients read them."""
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    """A non-streamed chat completion in OpenAI's shape, plus nativa's `trace_id`."""
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    system_fingerprint: str | None = None
    trace_id: str | None = Field(None, description="The OpenTelemetry trace of this request.")


class ModelCard(BaseModel):
    """One served model in GET /v1/models; `loaded` says whether it is in memory yet."""
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "nativa"
    loaded: bool = False


class ModelList(BaseModel):
    """GET /v1/models: every model this server can answer with."""
    object: Literal["list"] = "list"
    data: list[ModelCard]


_LOCAL_ONLY_DOC = ("Keep this run, and every tool result in it, off remote models (a cascade's openai: stages); "
                   "work holding secrets or personal data stays local anyway.")


class StageCostOut(BaseModel):
    """One stage of the model chain (or the total): zeros for a stage that never ran."""

    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    model_s: float = 0.0
    compute: float = Field(0.0, description="(input + output tokens) x parameters, local models.")
    price: float = Field(0.0, description="Money, remote models with a row in the price table.")


class CostOut(BaseModel):
    """What a run cost, per stage of the model chain and in total."""
    stages: list[StageCostOut] = Field(description="One entry per stage of the chain; one for a single model.")
    total: StageCostOut


class EscalationOut(BaseModel):
    """A cascade's hand-over from one stage to the next, and the evidence that made it."""

    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from", serialization_alias="from")
    to: str
    reason: str
    detail: str = ""


class CodeRequest(BaseModel):
    """`nativa code` over HTTP: write code for `task`, or repair `code`; `tests` are run in the sandbox."""

    task: str | None = Field(None, max_length=20_000, description="What the code should do.")
    code: str | None = Field(None, max_length=200_000, description="Code to repair instead of writing new.")
    tests: str | None = Field(None, max_length=200_000, description="Python asserts or test_* functions.")
    max_attempts: int = Field(3, ge=1, le=10)
    candidates: int = Field(4, ge=1, le=16, description="Candidates each attempt after the first draws.")
    max_tokens: int | None = Field(None, ge=16, le=8192)
    timeout_s: float = Field(10.0, gt=0, le=120, description="Seconds each sandboxed run may take.")
    model: str | None = Field(None, min_length=1, max_length=512)
    stream: bool = False
    session: str | None = Field(None, min_length=1, max_length=200,
                                description="A session (POST /v1/sessions) to keep this in and take context from.")
    review: ReviewMode | None = Field(None, description=_REVIEW_DOC + "never (the sandbox grants nothing)")
    local_only: bool = Field(False, description=_LOCAL_ONLY_DOC)

    @model_validator(mode="after")
    def _task_or_code(self) -> CodeRequest:
        if not (self.task and self.task.strip()) and not (self.code and self.code.strip()):
            raise ValueError("give 'task' (what the code should do) or 'code' (code to repair), or both; "
                             "both are empty or missing")
        return self


class CodeResponse(BaseModel):
    """The code agent's result over HTTP; extra fields are allowed so new result fields pass through."""
    model_config = ConfigDict(extra="allow")

    success: bool
    code: str | None
    task: str | None
    attempts: list[Attempt]  # the agent's own dataclass: one definition for the library and the API
    stop_reason: str
    trace_id: str | None
    checks: list[str] = []
    wall_s: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    model_s: float = 0.0
    sandbox_s: float = 0.0
    overhead_s: float = 0.0
    verified_by: Literal["user_tests", "task_examples", "generated_tests", "ran_only"] | None = Field(
        None, description="The evidence the success (or the best try) rests on.")
    verification: str = Field("", description="The same in words: 'passed 3 generated checks'.")
    tests: str | None = None
    generated_tests: str | None = Field(None, description="Checks the model wrote for a task that came with none.")
    cost: CostOut | None = Field(None, description="Tokens, model seconds, compute and price per stage.")
    escalations: list[EscalationOut] = Field([], description="A cascade's hand-overs, in order.")
    answered_by: str | None = Field(None, description="The model (a cascade's stage) whose code this is.")


class RunRequest(BaseModel):
    """A question for the tool agent; tools are read-only, and hosts are limited to the server's list."""

    question: str = Field(min_length=1, max_length=20_000)
    max_steps: int = Field(6, ge=1, le=20)
    allow_hosts: list[str] = Field(default_factory=list, max_length=50,
                                   description="Hosts the HTTP tool may reach; each must be allowed by the server.")
    model: str | None = Field(None, min_length=1, max_length=512)
    stream: bool = False
    session: str | None = Field(None, min_length=1, max_length=200,
                                description="A session (POST /v1/sessions) to keep this in and take context from.")
    review: ReviewMode | None = Field(None, description=_REVIEW_DOC + "risky when hosts are granted or the server "
                                      "has a database (--run-db), else never")
    local_only: bool = Field(False, description=_LOCAL_ONLY_DOC)


class StepOut(BaseModel):
    """One tool call of a run and what it returned (or its error)."""
    model_config = ConfigDict(extra="allow")

    tool: str | None = None
    arguments: Any = None
    observation: Any = None
    error: str | None = None


class RunResponse(BaseModel):
    """The tool agent's result over HTTP: its answer and the steps that led to it."""
    model_config = ConfigDict(extra="allow")

    answer: str | None
    steps: list[StepOut]
    trace_id: str | None
    cost: CostOut | None = Field(None, description="Tokens, model seconds, compute and price per stage.")
    escalations: list[EscalationOut] = Field([], description="A cascade's hand-overs, in order.")
    answered_by: str | None = Field(None, description="The model (a cascade's stage) whose answer this is.")


class ErrorDetail(BaseModel):
    """An error in OpenAI's shape; `error_id` finds the server log line of a 5xx."""
    message: str
    type: str
    param: str | None = None
    code: str | None = None
    error_id: str | None = None


class ErrorBody(BaseModel):
    """The body of every error response, so clients parse one shape."""
    error: ErrorDetail
    trace_id: str | None = None


class Health(BaseModel):
    """GET /healthz: the process answers (it says nothing about the models)."""
    status: Literal["ok"] = "ok"


class StageReadiness(BaseModel):
    """One stage of a served cascade: whether it is loaded, and how many runs it answered."""
    name: str
    loaded: bool
    answered: int


class ModelReadiness(BaseModel):
    """One served model in GET /readyz: loaded, or loadable, and if not, why."""
    name: str
    loaded: bool
    loadable: bool
    detail: str | None = None
    load_s: float | None = None
    stages: list[StageReadiness] | None = None  # a cascade's stages: loaded or not, runs each answered


class Ready(BaseModel):
    """GET /readyz: whether the server can answer, and the state of each model."""
    status: Literal["ready", "unavailable"]
    models: list[ModelReadiness]


class FindingOut(BaseModel):
    """One finding of the code review that made a run pause, with its risk and line."""
    rule: str
    risk: Literal["low", "medium", "high"]
    line: int
    message: str
    target: str | None = None


class PausedRun(BaseModel):
    """A run paused for a person's approval (202), or its record later (`GET /v1/runs/{id}`)."""

    model_config = ConfigDict(extra="allow")

    status: Literal["awaiting_approval", "running", "done", "failed", "expired"]
    run_id: str
    kind: Literal["code", "run"]
    code: str = Field(description="The code (or the tool call, as JSON) a person is asked to approve.")
    code_hash: str = Field(description="Send it back with approve/reject to answer for exactly this code.")
    findings: list[FindingOut]
    max_risk: str
    action: str = Field(description="What approving covers, in words: 'network api.example.com'.")
    reason: str
    revision: int = Field(description="1, then +1 each time the resumed run pauses again for other code.")
    expires_at: float
    decision: Literal["approve", "reject"] | None = None
    decided_by: str | None = None
    scope: str | None = None
    feedback: str | None = None
    error: str | None = None
    result: dict[str, Any] | None = Field(None, description="The agent's result, once the run is done.")
    trace_id: str | None = None


class PausedRunList(BaseModel):
    """The runs waiting for a decision (`GET /v1/runs`)."""
    object: Literal["list"] = "list"
    data: list[PausedRun]


class ApproveBody(BaseModel):
    """Approving a paused run: how far the approval reaches, and the code it answers for."""
    scope: Literal["once", "session", "always"] = Field("once", description=(
        "once: this code; session: this action in the run's session; always: this action everywhere"))
    code_hash: str | None = Field(None, max_length=100, description="The code_hash you were shown: 409 if the run "
                                  "now asks about other code.")


class RejectBody(BaseModel):
    """Rejecting a paused run: the reason goes back to the model, which tries another version."""
    reason: str = Field(min_length=1, max_length=4000, description="Why: the model reads it and writes another "
                        "version.")
    code_hash: str | None = Field(None, max_length=100)
