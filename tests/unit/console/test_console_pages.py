"""The console's pages over HTTP (scripted model, fake sandbox): runs and their attempts, filters, traces,
memory and forget, approvals; every page escapes what the model wrote."""

from __future__ import annotations

import re

from unit.console.helpers import BAD, GOOD, HOSTILE, client, code_replies, console_app, csrf_of, solve

from nativa import tracing
from nativa.config import Settings
from nativa.review.audit import AuditLog, MemoryAuditStore


def test_run_page_shows_both_attempts_the_diff_the_evidence_and_the_trace_link(settings: Settings) -> None:
    app, _ = console_app(settings)
    c = client(app)
    result = solve(c)
    assert result["success"] and len(result["attempts"]) == 2
    listing = c.get("/ui/runs")
    assert listing.status_code == 200 and "live-1" in listing.text and "passed" in listing.text
    page = c.get("/ui/runs/live-1")
    assert page.status_code == 200
    html = page.text
    assert 'id="attempt-1"' in html and 'id="attempt-2"' in html
    assert "Change from attempt 1" in html
    assert f'<span class="d-del">-    {BAD}</span>' in html and f'<span class="d-add">+    {GOOD}</span>' in html
    assert 'id="verified-by">user_tests<' in html
    assert "AssertionError" in html  # attempt 1's verdict, and the observation the model read next
    assert "What the model read next" in html
    assert f'id="trace-link" href="/ui/traces/{result["trace_id"]}"' in html or \
        re.search(r'id="trace-link" href="/ui/traces/[0-9a-f]{32}"', html)
    assert 'id="final-code"' in html and GOOD in html and 'data-copy="final-code"' in html


def test_trace_page_is_the_waterfall(settings: Settings) -> None:
    app, _ = console_app(settings)
    c = client(app)
    solve(c)
    trace_id = re.search(r'href="/ui/traces/([0-9a-f]{32})"', c.get("/ui/runs/live-1").text).group(1)  # type: ignore[union-attr]
    tracing.force_flush()
    # the in-memory exporter of the unit suite writes no JSONL: the page says so as a clear 4xx
    missing = c.get(f"/ui/traces/{trace_id}")
    assert missing.status_code == 400 and "no trace with id" in missing.text
    assert c.get("/ui/traces/zz").status_code == 400


def test_filters_by_status_verified_by_and_session_and_refuse_unknown_values(settings: Settings) -> None:
    app, _ = console_app(settings, replies=[*code_replies(), "no code at all", "still none", "none again"])
    c = client(app)
    assert c.post("/v1/sessions", json={"name": "work"}).status_code == 201
    solve(c, session="work")
    solve(c, task="another task with no tests at all", tests=None, max_attempts=1)
    rows = lambda query: re.findall(r'data-run="([^"]+)"', c.get("/ui/runs" + query).text)
    assert rows("") == ["live-2", "live-1"]
    assert rows("?status=passed") == ["live-1"]
    assert rows("?status=failed") == ["live-2"]
    assert rows("?verified_by=user_tests") == ["live-1"]
    assert rows("?session=work") == ["live-1"]
    assert rows("?session=nobody") == []
    bad = c.get("/ui/runs?status=sideways")
    assert bad.status_code == 400 and "status &#39;sideways&#39; is not a run status; valid: running" in bad.text
    assert c.get("/ui/runs?verified_by=vibes").status_code == 400
    assert c.get("/ui/runs/live-99").status_code == 404


def test_a_stored_run_shows_after_a_restart(settings: Settings) -> None:
    app, _ = console_app(settings)
    c = client(app)
    c.post("/v1/sessions", json={"name": "kept"})
    solve(c, session="kept")
    fresh, _ = console_app(settings)  # a new process: the board is empty, the session store is not
    c2 = client(fresh)
    ids = re.findall(r'data-run="([^"]+)"', c2.get("/ui/runs").text)
    assert len(ids) == 1 and ids[0].startswith("s-")
    page = c2.get(f"/ui/runs/{ids[0]}")
    assert page.status_code == 200 and 'id="attempt-2"' in page.text and "d-add" in page.text
    session = c2.get("/ui/memory/sessions/kept")
    assert session.status_code == 200 and "add two numbers" in session.text


def test_live_progress_streams_the_attempts_then_ends(settings: Settings) -> None:
    app, _ = console_app(settings)
    c = client(app)
    solve(c)
    stream = c.get("/ui/runs/live-1/events")
    assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
    events = re.findall(r"event: (\w+)\ndata: (.*)\n", stream.text)
    assert [e for e, _ in events][-1] == "end" and '"status": "passed"' in events[-1][1]
    phases = [d for e, d in events if e == "progress"]
    assert any('"number": 2' in d and '"outcome": "passed"' in d for d in phases)
    assert "unknown" in c.get("/ui/runs/live-77/events").text


def test_hostile_model_output_is_inert_on_every_page_that_shows_it(settings: Settings) -> None:
    code = f"print('{HOSTILE}')"
    app, pending = console_app(settings, replies=[f"```python\n{code}\n```", f"Sure: {HOSTILE}"])
    c = client(app)
    c.post("/v1/sessions", json={"name": HOSTILE[:60]})
    solve(c, task=f"say {HOSTILE}", tests="assert True", max_attempts=1)
    chat = c.post("/v1/chat/completions", json={"model": "small", "messages": [{"role": "user", "content": HOSTILE}]})
    assert chat.status_code == 200
    c.post("/v1/memories", json={"text": f"remember {HOSTILE}"})
    paused = pending.pause(f"task {HOSTILE}", f"import os\nos.system('{HOSTILE}')")
    pages = ["/ui/runs", "/ui/runs/live-1", "/ui/runs/live-2", "/ui/memory", f"/ui/memory?q={HOSTILE}",
             "/ui/approvals", f"/ui/approvals/{paused.id}"]
    for path in pages:
        html = c.get(path).text
        assert "<script>window" not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html or "\\u003cscript" in html, path
        assert "{{7*7}}" in html, path  # shown as written, never evaluated


def test_pages_carry_a_strict_content_security_policy(settings: Settings) -> None:
    app, _ = console_app(settings)
    page = client(app).get("/ui/runs")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert client(app).get("/ui/static/console.js").status_code == 200


def test_memory_search_with_scores_and_forget_after_confirmation_compacts(settings: Settings) -> None:
    app, _ = console_app(settings)
    c = client(app)
    item = c.post("/v1/memories", json={"text": "the vault code is orange-falcon-42"}).json()
    c.post("/v1/memories", json={"text": "lunch is at noon"})
    found = c.get("/ui/memory", params={"q": "what is the vault code"})
    assert found.status_code == 200
    scores = re.findall(r'<td class="score">([0-9.\-]+)</td><td>(\d+)</td>', found.text)
    assert scores and scores[0][1] == str(item["id"]) and float(scores[0][0]) > 0
    confirm = c.get(f"/ui/memory/forget/{item['id']}")
    assert confirm.status_code == 200 and "orange-falcon-42" in confirm.text and 'id="confirm-forget"' in confirm.text
    assert c.post(f"/ui/memory/forget/{item['id']}", data={}).status_code == 403  # no CSRF token: nothing goes
    assert "orange-falcon-42" in c.get("/ui/memory").text
    done = c.post(f"/ui/memory/forget/{item['id']}", data={"csrf": csrf_of(confirm.text)})
    assert done.status_code == 200 and "Forgot 1 record(s)" in done.text
    assert "orange-falcon-42" not in c.get("/ui/memory").text
    db = settings.home / "nativa.db"
    assert b"orange-falcon-42" not in b"".join(p.read_bytes() for p in db.parent.glob("nativa.db*"))
    again = c.post(f"/ui/memory/forget/{item['id']}", data={"csrf": csrf_of(confirm.text)})
    assert again.status_code == 404
    assert c.get("/ui/memory/forget/abc").status_code == 400
    assert c.get("/ui/memory", params={"q": "x", "k": "0"}).status_code == 400


def test_forget_a_session_removes_it_with_its_messages(settings: Settings) -> None:
    app, _ = console_app(settings)
    c = client(app)
    c.post("/v1/sessions", json={"name": "temp"})
    solve(c, session="temp")
    confirm = c.get("/ui/memory/sessions/temp/forget")
    assert confirm.status_code == 200 and "Forget session" in confirm.text
    done = c.post("/ui/memory/sessions/temp/forget", data={"csrf": csrf_of(confirm.text)})
    assert done.status_code == 200 and "Forgot" in done.text
    assert c.get("/ui/memory/sessions/temp").status_code == 404


def test_approve_runs_it_exactly_once_and_reject_needs_a_reason(settings: Settings) -> None:
    app, pending = console_app(settings)
    c = client(app)
    risky = pending.pause("fetch the page", "import urllib.request\nurllib.request.urlopen('http://example.com')\n"
                                            "print('done')\n")
    other = pending.pause("delete files", "import shutil\nshutil.rmtree('/data')\n")
    listing = c.get("/ui/approvals")
    assert listing.status_code == 200 and listing.text.count('class="pending"') == 2
    page = c.get(f"/ui/approvals/{risky.id}")
    assert page.status_code == 200
    flagged = re.findall(r'<tr class="line flagged risk-(\w+)" id="L(\d+)">', page.text)
    assert ("high", "2") in flagged or any(line == "2" for _, line in flagged)
    assert "example.com" in page.text
    token = csrf_of(page.text)
    assert c.post(f"/ui/approvals/{risky.id}/approve", data={"csrf": "forged" + token[6:]}).status_code == 403
    assert pending.completions == {}
    approved = c.post(f"/ui/approvals/{risky.id}/approve", data={"csrf": token})
    assert approved.status_code == 303 and approved.headers["location"] == f"/ui/approvals/{risky.id}"
    twice = c.post(f"/ui/approvals/{risky.id}/approve", data={"csrf": token})
    assert twice.status_code == 409 and "not waiting for approval" in twice.text
    assert pending.completions == {risky.id: 1}
    done = c.get(f"/ui/approvals/{risky.id}").text
    assert 'id="approve"' not in done and 'id="result-solved">no<' in done  # the fake sandbox fails it
    assert c.post(f"/ui/approvals/{other.id}/reject", data={"csrf": token, "reason": "  "}).status_code == 400
    rejected = c.post(f"/ui/approvals/{other.id}/reject", data={"csrf": token, "reason": "never touch /data"})
    assert rejected.status_code == 303 and pending.get(other.id).reason == "never touch /data"  # type: ignore[union-attr]
    log = c.get("/ui/approvals").text
    assert 'id="none-waiting"' in log and 'class="chain-ok"' in log and "2 entries" in log
    assert "never touch /data" in log
    assert c.get("/ui/approvals/nope").status_code == 404


def test_a_broken_audit_chain_is_shown_as_broken(settings: Settings) -> None:
    app, pending = console_app(settings)
    store = MemoryAuditStore()
    app.state.nativa_console_audit = AuditLog(store)
    pending.audit = app.state.nativa_console_audit
    c = client(app)
    run = pending.pause("x", "import os\nos.remove('a')\n")
    token = csrf_of(c.get(f"/ui/approvals/{run.id}").text)
    c.post(f"/ui/approvals/{run.id}/reject", data={"csrf": token, "reason": "no"})
    from dataclasses import replace

    store.rows[0] = replace(store.rows[0], reason="yes")  # edited behind the log's back
    page = c.get("/ui/approvals").text
    assert 'class="chain-broken"' in page and "edited" in page


def test_without_a_pending_store_the_approvals_page_says_so(settings: Settings) -> None:
    app, _ = console_app(settings)
    del app.state.nativa_pending
    c = client(app)
    assert "keeps no runs for review" in c.get("/ui/approvals").text
    assert c.get("/ui/approvals/r1").status_code == 409


def _span(name: str, span_id: str, parent: str | None, start: int, end: int, **attributes: object) -> dict[str, object]:
    return {"trace_id": "ab" * 16, "span_id": span_id, "parent_id": parent, "name": name, "kind": "INTERNAL",
            "start_ns": start, "end_ns": end, "status": "OK", "status_message": None, "attributes": attributes,
            "events": []}


def test_trace_page_shows_tokens_prompt_sandbox_layers_review_and_memory_recalls(settings: Settings) -> None:
    import json

    store = settings.data_dir / "traces"
    store.mkdir(parents=True)
    t0 = 1_700_000_000_000_000_000
    spans = [
        _span("POST /v1/code", "01" * 8, None, t0, t0 + 900_000_000),
        _span("memory.recall", "02" * 8, "01" * 8, t0 + 1_000_000, t0 + 5_000_000,
              **{"nativa.memory.recalled": 2, "nativa.memory.ids": [7, 9], "nativa.memory.scores": [0.91, 0.42]}),
        _span(f"chat small {HOSTILE}", "03" * 8, "01" * 8, t0 + 10_000_000, t0 + 400_000_000,
              **{"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 30,
                 "nativa.prompt.file": "code_agent/system.md", "nativa.prompt.hash": "abcdef1234567890",
                 "note": HOSTILE}),
        _span("review code", "04" * 8, "01" * 8, t0 + 400_000_000, t0 + 410_000_000,
              **{"nativa.review.decision": "approved", "nativa.review.max_risk": "medium",
                 "nativa.review.rules": ["network"], "nativa.review.who": "ops (console)"}),
        _span("sandbox.run", "05" * 8, "01" * 8, t0 + 410_000_000, t0 + 890_000_000,
              **{"nativa.sandbox.tier": "A", "nativa.sandbox.exit_code": 0,
                 "nativa.sandbox.layers": ["bwrap", "seccomp", "rlimits"]}),
    ]
    (store / "spans.jsonl").write_text("".join(json.dumps(s) + "\n" for s in spans))
    app, _ = console_app(settings)
    page = client(app).get("/ui/traces/" + "ab" * 16)
    assert page.status_code == 200, page.text
    html = page.text
    assert html.count('<li class="span') == 5 and html.index("memory.recall") < html.index("sandbox.run")
    assert "tokens 120→30" in html and "prompt code_agent/system.md@abcdef123456" in html
    assert "memories recalled: 2" in html and "memory ids: 7, 9" in html and "scores: 0.91, 0.42" in html
    assert "review: approved" in html and "max risk: medium" in html and "decided by: ops (console)" in html
    assert "sandbox layers: bwrap, seccomp, rlimits" in html and "tier A" in html
    assert "<script>window" not in html and "&lt;script&gt;window.__pwned=1" in html
    listing = client(app).get("/ui/traces")
    assert listing.status_code == 200 and "/ui/traces/" + "ab" * 16 in listing.text


def test_a_tool_run_shows_each_step_with_what_the_tool_returned(settings: Settings) -> None:
    import json

    from nativa.data import sample_db_url

    call = lambda tool, **args: json.dumps({"tool": tool, "arguments": args})
    replies = [call("sql", query="SELECT COUNT(*) AS n FROM customers"), call("final_answer", answer=f"{HOSTILE} 240")]
    app, _ = console_app(settings, replies=replies, run_db=sample_db_url())
    c = client(app)
    done = c.post("/v1/run", json={"question": "How many customers are there?", "max_steps": 3})
    assert done.status_code == 200, done.text
    listing = c.get("/ui/runs?status=passed").text
    assert 'data-run="live-1"' in listing and "How many customers" in listing
    html = c.get("/ui/runs/live-1").text
    assert "1. sql" in html and "SELECT COUNT(*) AS n FROM customers" in html and "What the tool returned" in html
    assert done.json()["steps"][0]["error"] is None and "240" in done.json()["steps"][0]["observation"]
    assert re.search(r"What the tool returned</h4><pre class=\"code\"><code>[^<]*240", html)
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;&lt;img" in html and "{{7*7}} 240" in html
    assert "<script>window" not in html and "<img src=x" not in html
