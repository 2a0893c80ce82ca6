"""`nativa chat`: a conversation that remembers, across turns and across processes.

    nativa chat --session work                       # interactive; /exit or Ctrl-D ends it
    nativa chat --session work -m "my name is Ada"   # one message, the reply on stdout
    nativa chat --session work -m "what is my name?" --json

Every turn is stored in the session (`nativa memory sessions work`), the user's words become long-term
memories, and the context sent to the model is built under its token budget (see nativa.memory.context).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from nativa.cli._common import err, out, print_json, settings
from nativa.cli.models import MODEL_HELP


def chat(
    session: Annotated[str, typer.Option("--session", "-s", help="The conversation to continue (created if "
                                         "new).")] = "default",
    message: Annotated[str | None, typer.Option("--message", "-m", help="Send one message and exit.")] = None,
    model: Annotated[str | None, typer.Option("--model", help=MODEL_HELP)] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", min=1, help="Tokens per reply.")] = None,
    budget: Annotated[int | None, typer.Option("--budget", min=64, help="Prompt tokens at most (default: the "
                                               "model's context minus the reply's max tokens).")] = None,
    recall: Annotated[int | None, typer.Option("--recall", min=0, max=100, help="Memories recalled per turn "
                                               "(default NATIVA_MEMORY_RECALL_K; 0: none).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="With -m: print {reply, session, recalled, "
                                           "context_tokens, trace_id}.")] = False,
) -> None:
    """Chat with a model that remembers earlier turns and earlier sessions."""
    from nativa.cli._runtime import open_memory_store, open_model
    from nativa.errors import BadInputError
    from nativa.memory.context import ContextBuilder
    from nativa.models.base import GenerationOptions

    if message is not None and not message.strip():
        raise BadInputError("--message is empty; say something")
    if json_out and message is None:
        raise BadInputError("--json needs -m MESSAGE (one message, one JSON answer)")
    cfg = settings()
    memory = open_memory_store(cfg)
    chat_model = open_model(model, cfg)
    reply_tokens = max_tokens or cfg.max_tokens
    options = GenerationOptions(max_tokens=reply_tokens, temperature=cfg.temperature, seed=cfg.seed)
    builder = ContextBuilder(memory, chat_model, budget_tokens=budget, reply_tokens=reply_tokens,
                             k=cfg.memory_recall_k if recall is None else recall, min_score=cfg.memory_min_score,
                             n_ctx=getattr(chat_model, "n_ctx", None) or cfg.n_ctx)
    current = memory.session(session, create=True)
    if message is not None:
        _one(memory, current, message, chat_model, builder, options, cfg, json_out)
        return
    err.print(f"[bold]session {escape(current.name)}[/] ({current.message_count} messages so far); "
              "/exit or Ctrl-D to leave")
    while True:
        try:
            text = input("you> ")
        except EOFError:
            err.print("")
            return
        if text.strip() in ("/exit", "/quit"):
            return
        if text.strip():
            _one(memory, current, text, chat_model, builder, options, cfg, False)


def _one(memory: Any, session: Any, text: str, model: Any, builder: Any, options: Any, cfg: Any,
         json_out: bool) -> None:
    from nativa.memory.conversation import converse

    def show(piece: str) -> None:
        out.print(escape(piece), end="")

    turn = converse(memory, session, text, model=model, builder=builder, options=options, settings=cfg,
                    on_delta=None if json_out else show)
    if json_out:
        print_json(turn.to_dict())
        return
    out.print("")
    recalled = f", {len(turn.context.recalled)} memories recalled" if turn.context.recalled else ""
    err.print(f"[dim]{turn.context.tokens} context tokens{recalled}"
              + (f", trace {turn.trace_id}" if turn.trace_id else "") + "[/]")
