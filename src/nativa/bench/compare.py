"""Peers side by side: smolagents' `CodeAgent` driven by the very same nativa model object.

The adapter below is the only glue: smolagents asks for a `ChatMessage`, we answer with our model's
completion, so both agents share weights, context size, sampling and the KV cache. Its final answer (or,
failing that, the last code it wrote that defines the function) is scored by the same hidden tests in the
same sandbox as nativa's.
"""

from __future__ import annotations

import ast
import contextlib
import re
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nativa.agent.extract import extract_code
from nativa.agent.task import TaskContext
from nativa.bench.humaneval import Problem, ProblemResult, score
from nativa.models.base import ChatModel, GenerationOptions

if TYPE_CHECKING:
    from nativa.sandbox.protocol import SandboxLike

SMOL_TASK = (
    "Complete the following Python function. Test it on the examples in its docstring, then call "
    "final_answer with the complete source code of the function (including imports) as a string.\n\n"
    "```python\n{prompt}\n```"
)


def _smol_model(chat_model: ChatModel, max_tokens: int) -> Any:
    from smolagents.models import ChatMessage, MessageRole, Model
    from smolagents.monitoring import TokenUsage

    class NativaSmolModel(Model):
        """smolagents' Model interface over a nativa ChatModel."""

        def __init__(self) -> None:
            super().__init__(model_id=chat_model.name, flatten_messages_as_text=True)
            self.model_s = 0.0

        def generate(self, messages: list[Any], stop_sequences: list[str] | None = None,
                     response_format: Any = None, tools_to_call_from: Any = None, **kwargs: Any) -> Any:
            """Answer smolagents' messages with the same model nativa uses, timing each call so the time spent
            outside the model can be reported."""
            msgs = []
            for m in messages:
                d = m if isinstance(m, dict) else m.dict()
                content = d.get("content")
                if isinstance(content, list):
                    content = "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
                role = str(d.get("role", "user")).split(".")[-1].lower()
                role = {"tool-call": "assistant", "tool-response": "user"}.get(role, role)
                msgs.append({"role": role if role in ("system", "user", "assistant") else "user",
                             "content": content or ""})
            started = time.perf_counter()
            c = chat_model.complete(msgs, GenerationOptions(max_tokens=max_tokens, temperature=0.0,
                                                            stop=tuple(stop_sequences or ())))
            self.model_s += time.perf_counter() - started
            return ChatMessage(role=MessageRole.ASSISTANT, content=c.text,
                               token_usage=TokenUsage(input_tokens=c.input_tokens, output_tokens=c.output_tokens))

    return NativaSmolModel()


def run_smolagents(problems: list[Problem], chat_model: ChatModel, sandbox: SandboxLike, *, max_steps: int,
                   max_tokens: int = 512,
                   on_result: Callable[[ProblemResult], None] | None = None) -> list[ProblemResult]:
    """The same problems through smolagents' CodeAgent on the same model and sandbox, scored by the same
    hidden tests: the peer nativa's agent is measured against."""
    from smolagents import CodeAgent as SmolCodeAgent

    out: list[ProblemResult] = []
    for problem in problems:
        model = _smol_model(chat_model, max_tokens)
        agent = SmolCodeAgent(tools=[], model=model, max_steps=max_steps, verbosity_level=-1,
                              additional_authorized_imports=["math", "typing", "collections", "itertools",
                                                             "re", "string", "functools", "heapq", "bisect"])
        started = time.perf_counter()
        error = None
        answer: Any = None
        try:
            # smolagents prints to stdout; keep stdout for our own output (e.g. --json).
            with contextlib.redirect_stdout(sys.stderr):
                answer = agent.run(SMOL_TASK.format(prompt=problem["prompt"]))
        except Exception as exc:  # noqa: BLE001 - a peer's crash is a failed problem, recorded
            error = f"{type(exc).__name__}: {exc}"
        wall = time.perf_counter() - started
        code = _code_from(answer, agent, problem)
        usage = agent.monitor.get_total_token_counts() if hasattr(agent, "monitor") else None
        passed = score(sandbox, problem, code)
        steps = len([s for s in agent.memory.steps if type(s).__name__ == "ActionStep"])
        pr = ProblemResult(
            task_id=problem["task_id"], system="smolagents", passed_after=[passed] * max_steps,
            attempts=steps, stop_reason="final_answer" if error is None else "error",
            input_tokens=getattr(usage, "input_tokens", 0) or 0, output_tokens=getattr(usage, "output_tokens", 0) or 0,
            wall_s=wall, model_s=model.model_s, sandbox_s=0.0, overhead_s=max(0.0, wall - model.model_s),
            checks=0, code=code, error=error,
        )
        out.append(pr)
        if on_result:
            on_result(pr)
    return out


def _code_from(answer: Any, agent: Any, problem: Problem) -> str | None:
    ctx = TaskContext.from_task(problem["prompt"], entry_point=problem["entry_point"])
    entry = problem["entry_point"]
    if isinstance(answer, str) and re.search(rf"def\s+{re.escape(entry)}\s*\(", answer):
        code = extract_code(answer, entry) or answer
        return ctx.complete(definitions_only(code))
    # No usable final answer: take the last code the model wrote that defines the function.
    for step in reversed(agent.memory.steps):
        action = getattr(step, "code_action", None)
        if action and re.search(rf"def\s+{re.escape(entry)}\s*\(", action):
            code = extract_code(f"```python\n{action}\n```", entry)
            return ctx.complete(definitions_only(code)) if code else None
    return None


def definitions_only(code: str) -> str:
    """The module's imports, definitions and call-free assignments, without its top-level use.

    smolagents' code actions mix the function with calls that only make sense in its own runtime
    (`final_answer(...)`, `print(...)`, example runs); scored as they are, those calls raise outside it
    and would fail a right function. Code that does not parse is returned unchanged (it fails as written).
    """
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code
    keep = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    body = [node for node in tree.body if isinstance(node, keep) or (
        isinstance(node, (ast.Assign, ast.AnnAssign))
        and not any(isinstance(n, ast.Call) for n in ast.walk(node)))]
    if len(body) == len(tree.body):
        return code
    lines = code.splitlines()
    return "\n\n".join("\n".join(lines[_first_line(node) - 1:node.end_lineno]) for node in body) + "\n"


def _first_line(node: ast.stmt) -> int:
    """A definition starts at its first decorator, not at its `def`."""
    return min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
