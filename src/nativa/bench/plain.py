"""The plain call: the 20-line script every user could write instead of using nativa, as a baseline.

One chat completion, greedy, `max_tokens=512`, with a fixed system prompt, the first fenced code block of
the reply as the answer, the hidden tests as the judge. For an embedded model it calls llama-cpp-python's
own `create_chat_completion` on the very same loaded weights, so nothing of nativa (prompts, extraction,
sampling settings) stands between the baseline and the model; for any other model it makes the same
request through the model's `complete`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nativa.bench.humaneval import Problem, ProblemResult, score
from nativa.models.base import ChatModel, GenerationOptions

if TYPE_CHECKING:
    from nativa.sandbox.protocol import SandboxLike

SYSTEM = ("You are an expert Python programmer. Reply with one complete, self-contained Python code block that "
          "implements the requested function, including any imports it needs.")
USER = "Complete this Python function:\n```python\n{prompt}```"
USER_WITH_TEST = "{task}\nYour code should pass this test:\n```python\n{test}\n```"
_BLOCK = re.compile(r"```(?:[A-Za-z0-9_+-]*)\n(.*?)```", re.DOTALL)


def first_block(text: str) -> str:
    """The first fenced block, or the whole reply when it has none (what a plain script would run)."""
    m = _BLOCK.search(text)
    return m.group(1) if m else text


def plain_complete(model: ChatModel, messages: list[dict[str, str]], max_tokens: int = 512) -> tuple[str, int, int]:
    """(text, input tokens, output tokens) of one greedy chat completion, straight through llama-cpp-python
    for an embedded model."""
    llm = _llama(model)
    if llm is not None:
        reply = llm.create_chat_completion(messages=messages, temperature=0.0, max_tokens=max_tokens)
        usage = reply.get("usage") or {}
        return (reply["choices"][0]["message"]["content"] or "", int(usage.get("prompt_tokens", 0)),
                int(usage.get("completion_tokens", 0)))
    c = model.complete(messages, GenerationOptions(max_tokens=max_tokens, temperature=0.0))
    return c.text, c.input_tokens, c.output_tokens


def _llama(model: ChatModel) -> Any:
    from nativa.models.local import LocalModel

    if isinstance(model, LocalModel):
        return model.llama()
    return None


def run_plain(problems: list[Problem], model: ChatModel, sandbox: SandboxLike, *, max_tokens: int = 512,
              on_result: Callable[[ProblemResult], None] | None = None) -> list[ProblemResult]:
    """The baseline: one plain completion per problem, its first code block judged by the hidden tests
    (no agent, no feedback)."""
    out = []
    for problem in problems:
        started = time.perf_counter()
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER.format(**problem)}]
        text, n_in, n_out = plain_complete(model, messages, max_tokens)
        model_s = time.perf_counter() - started
        code = first_block(text)
        t0 = time.perf_counter()
        ok = score(sandbox, problem, code)
        sandbox_s = time.perf_counter() - t0
        wall = time.perf_counter() - started
        pr = ProblemResult(task_id=problem["task_id"], system="plain", passed_after=[ok], attempts=1,
                           stop_reason="plain", input_tokens=n_in, output_tokens=n_out, wall_s=wall,
                           model_s=model_s, sandbox_s=sandbox_s, overhead_s=max(0.0, wall - model_s - sandbox_s),
                           checks=0, code=code, candidates=1)
        out.append(pr)
        if on_result:
            on_result(pr)
    return out
