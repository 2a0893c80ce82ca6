"""The console as a person uses it, in headless Chromium: a code run that fails once then passes (both attempts
and the diff on its page, then its trace), live progress of a running one, approving a paused run (it completes
exactly once) and rejecting another, memory search and forget, model output that tries to run script, and the
login form. Screenshots for docs/console.md come from here."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import httpx
import pytest

from nativa.config import Settings

pytestmark = pytest.mark.integration

try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
except ImportError:  # pragma: no cover - the dev extra installs it
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("selenium is not installed (the dev extra)", allow_module_level=True)

from integration.console.helpers import FAILS, PASSES, GatedModel, screenshot, start_server, wait

from nativa.models import ScriptedModel

TESTS = "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n"


def _code(url: str, **body: object) -> dict[str, object]:
    payload = {"task": "Write add(a, b) that returns the sum.", "tests": TESTS, "max_attempts": 3, "candidates": 1,
               **body}
    response = httpx.post(f"{url}/v1/code", json=payload, timeout=120)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_run_that_fails_once_then_passes_shows_both_attempts_the_diff_and_its_trace(
        settings: Settings, browser, shots: Path) -> None:  # type: ignore[no-untyped-def]
    server, _ = start_server(settings, ScriptedModel([FAILS, PASSES], name="small"))
    try:
        httpx.post(f"{server.url}/v1/sessions", json={"name": "demo"}).raise_for_status()
        result = _code(server.url, session="demo")
        assert result["success"] and [a["outcome"] for a in result["attempts"]] == ["failed", "passed"]  # type: ignore[index]
        browser.get(f"{server.url}/ui")
        rows = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "tr.run-row"))
        assert len(rows) == 1 and "passed" in rows[0].text and "user_tests" in rows[0].text and "demo" in rows[0].text
        screenshot(browser, shots, "runs")
        rows[0].find_element(By.CSS_SELECTOR, "td.task a").click()
        wait(browser, ec.presence_of_element_located((By.ID, "attempt-2")))
        first = browser.find_element(By.ID, "attempt-1")
        second = browser.find_element(By.ID, "attempt-2")
        assert "failed" in first.text and "AssertionError" in first.text
        assert "passed" in second.text and "Change from attempt 1" in second.text
        removed = [e.text for e in second.find_elements(By.CSS_SELECTOR, ".d-del")]
        added = [e.text for e in second.find_elements(By.CSS_SELECTOR, ".d-add")]
        assert removed == ["-    return a - b"] and added == ["+    return a + b"]
        assert "What the model read next" in first.text
        assert browser.find_element(By.ID, "verified-by").text == "user_tests"
        assert "return a + b" in browser.find_element(By.ID, "final-code").text
        screenshot(browser, shots, "run")
        browser.find_element(By.ID, "copy-final").click()
        wait(browser, lambda d: d.find_element(By.ID, "copy-final").text == "Copied")
        browser.find_element(By.ID, "trace-link").click()
        spans = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#waterfall li.span"))
        names = [s.find_element(By.CSS_SELECTOR, ".span-name").text for s in spans]
        assert any(n.startswith("POST /v1/code") for n in names) and any("invoke_agent" in n for n in names)
        assert any(n.startswith("chat ") for n in names) and any("sandbox" in n for n in names)
        notes = " ".join(s.text for s in browser.find_elements(By.CSS_SELECTOR, ".span-notes"))
        assert "tokens" in notes and "tier" in notes and "prompt " in notes
        assert "sandbox layers: bwrap" in notes  # the real sandbox's isolation layers, from its span
        assert browser.find_elements(By.CSS_SELECTOR, "svg.bar rect.fill")
        screenshot(browser, shots, "trace")
    finally:
        server.stop()


def test_a_running_run_shows_its_progress_live_then_its_result(settings: Settings, browser) -> None:  # type: ignore[no-untyped-def]
    model = GatedModel([FAILS, PASSES])
    server, _ = start_server(settings, model)
    done: list[dict[str, object]] = []
    worker = threading.Thread(target=lambda: done.append(_code(server.url)), daemon=True)
    try:
        worker.start()
        assert model.waiting.wait(30)
        browser.get(f"{server.url}/ui/runs")
        link = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "tr.run-row td.task a"))
        assert "running" in browser.find_element(By.CSS_SELECTOR, "tr.run-row").text
        link.click()
        wait(browser, ec.presence_of_element_located((By.CSS_SELECTOR, "ol.live-log")))
        wait(browser, lambda d: "attempt 1 started" in d.find_element(By.CSS_SELECTOR, "ol.live-log").text)
        model.gate.set()  # the model answers: the page follows the attempts, then reloads with the result
        wait(browser, ec.presence_of_element_located((By.ID, "attempt-2")))
        assert browser.find_element(By.ID, "solved").text == "yes"
        worker.join(60)
        assert done and done[0]["success"]
    finally:
        model.gate.set()
        server.stop()


def test_approve_runs_the_paused_code_exactly_once_and_reject_keeps_the_reason(
        settings: Settings, browser, shots: Path) -> None:  # type: ignore[no-untyped-def]
    server, pending = start_server(settings, ScriptedModel([], name="small"))
    try:
        fetch = pending.pause("Fetch the status page and print it",
                              "import urllib.request\n\nbody = urllib.request.urlopen('https://status.example.com')"
                              ".read()\nprint('fetched', len(body))\nprint('approved and ran')\n", session="ops")
        wipe = pending.pause("Clean up old files", "import shutil\nshutil.rmtree('/var/data')\n", session="ops")
        browser.get(f"{server.url}/ui/approvals")
        rows = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "tr.pending"))
        assert len(rows) == 2
        browser.find_element(By.LINK_TEXT, "Fetch the status page and print it").click()
        flagged = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#review-code tr.flagged"))
        assert any("status.example.com" in row.text and row.get_attribute("id") == "L3" for row in flagged)
        screenshot(browser, shots, "approval")
        browser.find_element(By.ID, "approve").click()
        wait(browser, lambda d: "completed" in d.find_element(By.TAG_NAME, "h1").text)
        assert browser.find_elements(By.ID, "approve") == []
        assert "(console)" in browser.find_element(By.ID, "decided-by").text
        browser.back()  # the approval form again: the page is not cached, so it shows the decision, no button
        wait(browser, lambda d: "completed" in d.find_element(By.TAG_NAME, "h1").text)
        assert browser.find_elements(By.ID, "approve") == []
        assert pending.completions == {fetch.id: 1}
        browser.get(f"{server.url}/ui/approvals/{wipe.id}")
        browser.find_element(By.ID, "reason").send_keys("never delete /var/data; move old files to /tmp instead")
        browser.find_element(By.ID, "reject").click()
        wait(browser, lambda d: "rejected" in d.find_element(By.TAG_NAME, "h1").text)
        assert pending.get(wipe.id).reason.startswith("never delete /var/data")  # type: ignore[union-attr]
        assert wipe.id not in pending.completions
        browser.get(f"{server.url}/ui/approvals")
        assert "Chain verified: 2 entries" in browser.find_element(By.ID, "chain").text
        assert len(browser.find_elements(By.CSS_SELECTOR, "#audit tbody tr")) == 2
        screenshot(browser, shots, "approvals")
    finally:
        server.stop()


def test_search_memory_then_forget_an_item(settings: Settings, browser, shots: Path) -> None:  # type: ignore[no-untyped-def]
    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("needs the memory extra (the real embedder)")
    server, _ = start_server(settings, ScriptedModel([], name="small"))
    try:
        for text in ("The staging database password rotates every Monday.",
                     "Deploys to production need two approvals.", "The office cat is called Moss."):
            httpx.post(f"{server.url}/v1/memories", json={"text": text}, timeout=120).raise_for_status()
        browser.get(f"{server.url}/ui/memory")
        box = wait(browser, lambda d: d.find_element(By.ID, "q"))
        box.send_keys("when does the database password change?")
        browser.find_element(By.ID, "search").click()
        hits = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#hits tr.hit"))
        assert "password rotates every Monday" in hits[0].text
        scores = [float(h.find_element(By.CSS_SELECTOR, ".score").text) for h in hits]
        assert scores == sorted(scores, reverse=True) and scores[0] > scores[-1]
        screenshot(browser, shots, "memory")
        hits[0].find_element(By.LINK_TEXT, "forget…").click()
        assert "password rotates" in wait(browser, lambda d: d.find_element(By.ID, "to-forget")).text
        browser.find_element(By.ID, "confirm-forget").click()
        assert "Forgot 1 record(s)" in wait(browser, lambda d: d.find_element(By.ID, "forgotten")).text
        browser.get(f"{server.url}/ui/memory?q=database+password")
        texts = " ".join(h.text for h in browser.find_elements(By.CSS_SELECTOR, "#hits tr.hit"))
        assert "rotates every Monday" not in texts and "two approvals" in texts
        stored = b"".join(p.read_bytes() for p in settings.home.glob("nativa.db*"))
        assert b"rotates every Monday" not in stored  # compacted away, as `nativa memory forget` does
    finally:
        server.stop()


HOSTILE = ('<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
           '<b id="injected">bold</b>')


def test_markup_in_model_output_is_shown_as_text_and_never_runs(settings: Settings, browser) -> None:  # type: ignore[no-untyped-def]
    code = f"print({HOSTILE!r})"
    model = ScriptedModel([f"```python\n{code}\n```", f"Here is HTML: {HOSTILE}"], name="small")
    server, _ = start_server(settings, model)
    try:
        result = _code(server.url, task=f"print this exactly: {HOSTILE}", tests="assert True\n", max_attempts=1)
        assert HOSTILE in str(result["stdout"])  # the sandbox really printed it
        reply = httpx.post(f"{server.url}/v1/chat/completions", timeout=60,
                           json={"model": "small", "messages": [{"role": "user", "content": "show html"}]})
        assert reply.status_code == 200
        for path in ("/ui/runs", "/ui/runs/live-1", "/ui/runs/live-2"):
            browser.get(server.url + path)
            wait(browser, ec.presence_of_element_located((By.TAG_NAME, "h1")))
            assert browser.execute_script("return window.__pwned === undefined") is True, path
            assert browser.find_elements(By.ID, "injected") == [], path
            assert browser.find_elements(By.CSS_SELECTOR, "main img") == [], path
        assert "<b id=\"injected\">bold</b>" in browser.find_element(By.ID, "reply").text
        browser.get(server.url + "/ui/runs/live-1")
        assert "<script>window.__pwned = 1</script>" in browser.find_element(By.ID, "final-code").text
    finally:
        server.stop()


def test_with_an_api_key_the_console_asks_for_it_and_keeps_a_strict_cookie(settings: Settings, browser) -> None:  # type: ignore[no-untyped-def]
    server, _ = start_server(settings, ScriptedModel([], name="small"), api_key="k-browser-1")
    try:
        browser.get(f"{server.url}/ui/memory")
        key = wait(browser, lambda d: d.find_element(By.ID, "key"))
        key.send_keys("wrong")
        browser.find_element(By.ID, "sign-in").click()
        assert wait(browser, lambda d: d.find_element(By.ID, "login-failed")).is_displayed()
        browser.find_element(By.ID, "key").send_keys("k-browser-1")
        browser.find_element(By.ID, "sign-in").click()
        wait(browser, lambda d: d.current_url.endswith("/ui/memory"))
        cookie = browser.get_cookie("nativa_console")
        assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert browser.execute_script("return document.cookie") == ""  # nothing a script could read
        browser.find_element(By.CSS_SELECTOR, "form.logout button").click()
        wait(browser, lambda d: d.find_elements(By.ID, "key"))
        browser.get(f"{server.url}/ui/runs")
        assert wait(browser, lambda d: d.find_element(By.ID, "key"))
    finally:
        server.stop()
