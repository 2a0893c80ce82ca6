"""Servers for the browser tests: the scripted model behind a real uvicorn on loopback, the real sandbox."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait
from support.pending import ScriptedPendingRuns

from nativa.config import Settings
from nativa.models import ScriptedModel
from nativa.models.base import Completion, Delta, GenerationOptions, MessagesLike, collect
from nativa.review.audit import AuditLog
from nativa.review.store import SQLiteReviewStore
from nativa.serve import ServeConfig, create_app
from nativa.serve.runner import ServerThread

FAILS = "```python\ndef add(a, b):\n    return a - b\n```"
PASSES = "```python\ndef add(a, b):\n    return a + b\n```"


class GatedModel:
    """The scripted model, holding its first answer until `gate` opens (a run the browser sees running)."""

    provider = "scripted"
    remote = False

    def __init__(self, replies: list[str]) -> None:
        self.inner = ScriptedModel(replies, name="small")
        self.name = "small"
        self.gate = threading.Event()
        self.waiting = threading.Event()

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def stream(self, messages: MessagesLike, options: GenerationOptions | None = None) -> Iterator[Delta]:
        self.waiting.set()
        self.gate.wait(60)
        yield from self.inner.stream(messages, options)

    def complete(self, messages: MessagesLike, options: GenerationOptions | None = None) -> Completion:
        return collect(self.stream(messages, options))


def start_server(settings: Settings, model: Any, **config: Any) -> tuple[ServerThread, ScriptedPendingRuns]:
    app = create_app(settings, config=ServeConfig(models=("small",), **config), model_factory=lambda _: model,
                     setup_tracing=False)
    from nativa.memory import open_memory
    from nativa.sandbox import Sandbox

    app.state.nativa_memory = open_memory(settings)  # before the review tables join its file (see sources.audit)
    pending = ScriptedPendingRuns(Sandbox(), AuditLog(SQLiteReviewStore(settings.review_db_path)))
    app.state.nativa_pending = pending
    return ServerThread(app).start(), pending


def wait(driver: WebDriver, condition: Any, timeout_s: float = 60) -> Any:
    """Until `condition` holds; an element that went stale (the page reloaded under it) is looked up again."""
    return WebDriverWait(driver, timeout_s, ignored_exceptions=(NoSuchElementException,
                                                                StaleElementReferenceException)).until(condition)


def screenshot(driver: WebDriver, folder: Path, name: str) -> Path:
    """The whole page (up to 2400 px tall) at 1280 px wide."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(1280, max(600, min(height + 20, 2400)))
    path = folder / f"console-{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 900)
    return path
