"""`nativa serve --ray`'s deployment: the same app behind Ray Serve's proxy on loopback answers the official
OpenAI client, with the same auth; a second model's deployment under a route prefix shares the port."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import openai
import pytest

from nativa.config import Settings
from nativa.models import ScriptedModel
from nativa.scale.serving import Replicas, deploy, undeploy
from nativa.serve.app import create_app
from nativa.serve.config import ServeConfig
from nativa.serve.runner import free_port

pytestmark = pytest.mark.integration


def test_ray_serve_answers_the_openai_client_with_the_apps_auth(ray_cluster: Any, tmp_path: Path) -> None:
    port = free_port()
    config = ServeConfig(port=port, models=("small",), api_key="k-ray")
    builder = functools.partial(create_app, Settings(home=tmp_path / "home"), config=config,
                                model_factory=functools.partial(ScriptedModel, ["hello from a replica"] * 20))
    deploy(builder, Replicas(min_replicas=1, max_replicas=2), host="127.0.0.1", port=port)
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k-ray", max_retries=0)
        reply = client.chat.completions.create(model="small", messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content == "hello from a replica"
        assert [m.id for m in client.models.list()] == ["small"]
        stream = client.chat.completions.create(model="small", messages=[{"role": "user", "content": "hi"}],
                                                stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "hello from a replica"
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="wrong", max_retries=0) \
                .chat.completions.create(model="small", messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(openai.NotFoundError, match="small"):
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        # a cascade's second model: its own deployment under a prefix, behind the same port
        large = functools.partial(create_app, Settings(home=tmp_path / "home"),
                                  config=ServeConfig(port=port, models=("large",), api_key="k-ray"),
                                  model_factory=functools.partial(ScriptedModel, ["from the large one"] * 5))
        deploy(large, Replicas(), host="127.0.0.1", port=port, route_prefix="/large")
        try:
            big = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/large/v1", api_key="k-ray", max_retries=0)
            answer = big.chat.completions.create(model="large", messages=[{"role": "user", "content": "hi"}])
            assert answer.choices[0].message.content == "from the large one"
            assert client.chat.completions.create(model="small", messages=[{"role": "user", "content": "hi"}]) \
                .choices[0].message.content == "hello from a replica"
        finally:
            undeploy("/large")
    finally:
        undeploy()
