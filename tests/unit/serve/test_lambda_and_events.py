"""The Lambda handler (API Gateway v1/v2 through Mangum) and event-driven work (S3, SQS, direct text)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response
from unit.serve.helpers import EchoModel, LoadingEchoModel, ServerOn

from nativa.config import Settings
from nativa.serve import ServeConfig, lambda_handler
from nativa.serve.events import EventConfig
from nativa.serve.lambda_handler import LambdaContainer
from nativa.serve.objects import LocalObjectReader, S3ObjectReader, sigv4_headers

CHAT = {"model": "small", "messages": [{"role": "user", "content": "hi"}]}


def v1_event(body: str | None, path: str = "/v1/chat/completions", method: str = "POST",
             b64: bool = False) -> dict[str, Any]:
    return {"resource": "/{proxy+}", "path": path, "httpMethod": method,
            "headers": {"content-type": "application/json", "host": "abc.execute-api.us-east-1.amazonaws.com"},
            "multiValueHeaders": {}, "queryStringParameters": None, "multiValueQueryStringParameters": None,
            "pathParameters": {"proxy": path.lstrip("/")}, "stageVariables": None,
            "requestContext": {"resourcePath": "/{proxy+}", "httpMethod": method, "path": "/prod" + path,
                               "stage": "prod", "requestId": "req-1", "identity": {"sourceIp": "203.0.113.9"}},
            "body": body, "isBase64Encoded": b64}


def v2_event(body: str | None, path: str = "/v1/chat/completions", method: str = "POST") -> dict[str, Any]:
    return {"version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
            "headers": {"content-type": "application/json", "host": "abc.lambda-url.us-east-1.on.aws"},
            "requestContext": {"http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                                        "sourceIp": "203.0.113.9", "userAgent": "test"},
                               "requestId": "req-2", "routeKey": "$default", "stage": "$default"},
            "body": body, "isBase64Encoded": False}


def s3_event(key: str, bucket: str = "uploads", name: str = "ObjectCreated:Put") -> dict[str, Any]:
    return {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
                         "eventName": name, "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 1}}}]}


@pytest.fixture
def model() -> LoadingEchoModel:
    return LoadingEchoModel(load_s=0.01)


@pytest.fixture
def box(settings: Settings, model: LoadingEchoModel, tmp_path: Path) -> LambdaContainer:
    made: list[str] = []

    def factory(name: str) -> LoadingEchoModel:
        made.append(name)
        return model

    (tmp_path / "store" / "uploads" / "notes").mkdir(parents=True)
    (tmp_path / "store" / "uploads" / "notes" / "a b.txt").write_text("the quarterly report")
    container = LambdaContainer(settings, config=ServeConfig(models=("small",)), model_factory=factory,
                                reader=LocalObjectReader(tmp_path / "store"),
                                event_config=EventConfig(instruction="Summarise."))
    container.made = made  # type: ignore[attr-defined]
    return container


@pytest.mark.parametrize("shape", [v1_event, v2_event])
def test_api_gateway_events_reach_the_app(box: LambdaContainer, shape: Any) -> None:
    r = box(shape(json.dumps(CHAT)), None)
    assert r["statusCode"] == 200
    body = json.loads(r["body"])
    assert body["choices"][0]["message"]["content"] == "echo hi" and body["trace_id"]
    health = box(shape(None, path="/healthz", method="GET"), None)
    assert health["statusCode"] == 200 and json.loads(health["body"]) == {"status": "ok"}


def test_base64_body_is_decoded(box: LambdaContainer) -> None:
    r = box(v1_event(base64.b64encode(json.dumps(CHAT).encode()).decode(), b64=True), None)
    assert r["statusCode"] == 200


@pytest.mark.parametrize(("body", "status", "words"), [
    (None, 400, "body is missing"), ("{oops", 400, "not valid JSON"),
    (json.dumps({"model": "small", "messages": []}), 422, "messages")])
def test_api_gateway_bad_bodies(box: LambdaContainer, body: str | None, status: int, words: str) -> None:
    for shape in (v1_event, v2_event):
        r = box(shape(body), None)
        assert r["statusCode"] == status and words in json.loads(r["body"])["error"]["message"]


def test_model_loads_once_per_container(box: LambdaContainer, model: LoadingEchoModel) -> None:
    for _ in range(3):
        assert box(v2_event(json.dumps(CHAT)), None)["statusCode"] == 200
    assert box({"text": "x"})["statusCode"] == 200
    assert model.loads == 1 and box.made == ["small"]  # type: ignore[attr-defined]


def test_s3_object_created_runs_the_task_on_the_object(box: LambdaContainer, model: LoadingEchoModel) -> None:
    r = box(s3_event("notes/a+b.txt"))
    assert r["statusCode"] == 200, r
    result = r["results"][0]
    assert result["source"] == "s3://uploads/notes/a b.txt" and result["trace_id"]
    assert result["output"] == "echo the quarterly report"
    assert box.events.config.instruction == "Summarise."


def test_other_s3_events_are_skipped_and_missing_objects_are_404(box: LambdaContainer) -> None:
    r = box(s3_event("notes/a+b.txt", name="ObjectRemoved:Delete"))
    assert r["statusCode"] == 200 and r["results"][0]["skipped"]
    missing = box(s3_event("nope.txt"))
    assert missing["statusCode"] == 404 and "nope.txt" in missing["error"]["message"]
    escape = box(s3_event("../../../etc/passwd"))
    assert escape["statusCode"] == 400 and "outside the store root" in escape["error"]["message"]


def test_direct_and_sqs_text_events(box: LambdaContainer) -> None:
    assert box({"text": "hello"})["results"][0]["output"] == "echo hello"
    assert box({"body": json.dumps({"text": "from body"})})["results"][0]["output"] == "echo from body"
    sqs = {"Records": [{"eventSource": "aws:sqs", "messageId": "m1", "body": json.dumps({"text": "queued"})}]}
    out = box(sqs)
    assert out["statusCode"] == 200 and out["results"][0] | {"trace_id": None} == {
        "source": "sqs:m1", "task": "chat", "output": "echo queued", "input_tokens": 2, "output_tokens": 2,
        "trace_id": None}


@pytest.mark.parametrize(("event", "param"), [
    ({"foo": 1}, "text"), ({"text": ""}, "text"), ({"text": 5}, "text"), ({"body": "{}"}, "body.text"),
    ({"body": "{bad"}, None), ([1, 2], None),
    ({"Records": [{"eventSource": "aws:sqs", "body": "{}"}]}, "Records[0].body.text"),
])
def test_events_without_text_are_400_with_error(box: LambdaContainer, event: Any, param: str | None) -> None:
    r = box(event)
    assert r["statusCode"] == 400 and r["error"]["message"]
    assert r["error"]["param"] == param


def test_internal_fault_in_an_event_is_500_with_error_id(settings: Settings,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    container = LambdaContainer(settings, config=ServeConfig(models=("small",)),
                                model_factory=lambda _n: EchoModel(fail=RuntimeError("disk on fire")))
    r = container({"text": "x"})
    assert r["statusCode"] == 500 and r["error"]["error_id"].startswith("err_")
    assert "disk on fire" not in json.dumps(r)
    assert any(r["error"]["error_id"] in rec.getMessage() for rec in caplog.records)


def test_module_handler_uses_the_installed_container(box: LambdaContainer) -> None:
    lambda_handler.set_container(box)
    try:
        assert lambda_handler.handler(v2_event(json.dumps(CHAT)), None)["statusCode"] == 200
        assert lambda_handler.handle_event({"text": "hi"})["statusCode"] == 200
        assert lambda_handler.handle_event({})["statusCode"] == 400
    finally:
        lambda_handler.set_container(None)


def test_sigv4_matches_the_aws_documentation_example(monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS S3 docs, 'Example: GET Object' (header-based SigV4), with its published signature."""
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: dt.datetime(2013, 5, 24))
    headers = sigv4_headers("GET", "https://examplebucket.s3.amazonaws.com/test.txt", {"Range": "bytes=0-9"},
                            access_key="AKIAIOSFODNN7EXAMPLE", secret_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                            region="us-east-1")
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")


def test_s3_reader_gets_signed_ranged_objects_from_a_compatible_store() -> None:
    store = {"docs/report one.txt": b"hello from s3"}
    seen: list[dict[str, str]] = []
    app = FastAPI()

    @app.get("/{bucket}/{key:path}")
    async def get(bucket: str, key: str, request: Request) -> Response:
        seen.append(dict(request.headers))
        data = store.get(key)
        if bucket != "b" or data is None:
            return Response(status_code=404)
        end = int(request.headers["range"].split("-")[1])
        return Response(data[: end + 1], status_code=206)

    with ServerOn(app) as url:
        reader = S3ObjectReader(url, access_key="AK", secret_key="SK", region="eu-west-1")
        assert reader.read("b", "docs/report one.txt", 1000) == b"hello from s3"
        assert seen[0]["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AK/")
        assert "/eu-west-1/s3/aws4_request" in seen[0]["authorization"] and seen[0]["range"] == "bytes=0-1000"
        with pytest.raises(Exception, match="larger than the limit"):
            reader.read("b", "docs/report one.txt", 5)
        with pytest.raises(Exception, match="no object"):
            reader.read("b", "missing.txt", 5)


@pytest.mark.parametrize("event", [
    {"httpMethod": "GET", "requestContext": {}},  # issue 11, finding 12
    {"httpMethod": "GET"},
    {"requestContext": {"requestId": "r"}},
    {"version": "2.0", "requestContext": {}},
    {"version": "2.0", "requestContext": {"http": {"method": "GET"}}, "rawPath": "/healthz"},
    {"resource": "/", "httpMethod": "GET", "requestContext": {}},
    {"resource": "/", "path": "/healthz", "httpMethod": "GET", "requestContext": "not an object"},
    {"requestContext": {"elb": {"targetGroupArn": "arn"}}, "path": "/healthz"},
    {**v1_event("!!not base64!!", b64=True)},
], ids=["method-and-empty-context", "method-only", "context-only", "v2-empty-context", "v2-no-source-ip",
        "v1-no-path", "v1-context-not-object", "alb-no-method", "v1-bad-base64"])
def test_incomplete_http_events_are_400_in_the_proxy_convention(box: LambdaContainer, event: dict[str, Any]) -> None:
    r = box(event, None)
    assert r["statusCode"] == 400 and r["headers"]["content-type"] == "application/json"
    error = json.loads(r["body"])["error"]
    assert error["code"] == "invalid_event" and "event" in error["message"]


def test_direct_invocations_answer_in_the_proxy_convention(box: LambdaContainer,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    ok = box({"text": "hello"})
    assert ok["statusCode"] == 200 and json.loads(ok["body"])["results"][0]["output"] == "echo hello"
    bad = box({"foo": 1})
    assert bad["statusCode"] == 400 and json.loads(bad["body"])["error"]["param"] == "text"
    assert bad["error"]["param"] == "text"  # the fields callers read before stay where they were
    lambda_handler.set_container(box)
    try:
        assert json.loads(lambda_handler.handle_event({})["body"])["error"]["param"] == "text"
    finally:
        lambda_handler.set_container(None)

    def broken() -> LambdaContainer:
        raise RuntimeError("no model cache")

    monkeypatch.setattr(lambda_handler, "container", broken)
    failed = lambda_handler.handler({"text": "x"})
    assert failed["statusCode"] == 500 and json.loads(failed["body"])["error"]["error_id"].startswith("err_")
    http_failed = lambda_handler.handler(v2_event(None))
    assert http_failed["statusCode"] == 500 and "no model cache" not in http_failed["body"]
