"""Serving: nativa behind HTTP (FastAPI), on AWS Lambda (Mangum) and on storage events.

    from nativa.serve import create_app, load_serve_config
    app = create_app(settings, config=load_serve_config(settings, port=8000))

`nativa serve` runs it with uvicorn; `nativa.serve.lambda_handler.handler` serves API Gateway and S3/SQS
events from one Lambda function.
"""

from nativa.serve.app import create_app
from nativa.serve.config import ServeConfig, is_loopback, load_serve_config

__all__ = ["ServeConfig", "create_app", "is_loopback", "load_serve_config"]
