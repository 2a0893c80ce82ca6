"""llama-cpp-python's own OpenAI-compatible server on loopback, as a real peer for the OpenAI client.

Started the way `nativa bench serve` starts it (same GGUF, context and threads), stopped with SIGTERM then
SIGKILL; its last stderr lines are in the error when it does not come up.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from support.openai_server import free_port


@contextmanager
def llama_cpp_server(model_path: Path, *, n_ctx: int, threads: int, ready_s: float = 180.0) -> Iterator[str]:
    """Yield the server's `/v1` base URL once `/v1/models` answers."""
    port = free_port()
    argv = [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path), "--host", "127.0.0.1",
            "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(threads), "--n_threads_batch",
            str(threads), "--verbose", "False", "--interrupt_requests", "False"]
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")  # no spin-waiting next to the test process's own model
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + ready_s
        while True:
            if proc.poll() is not None:
                tail = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
                raise RuntimeError(f"llama_cpp.server exited with {proc.returncode}: {tail}")
            try:
                if httpx.get(f"{url}/models", timeout=2.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama_cpp.server did not answer on {url} within {ready_s:.0f} s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
