"""Readers for the objects that storage events point at: a local directory, or any S3-compatible store.

The reader is pluggable because where uploads land differs by deployment (a mounted volume, AWS S3,
MinIO, R2). The S3 reader makes one GET over httpx, signed with AWS Signature V4 by botocore's signer (boto3's
client machinery is not needed for one GET). Both cap what they read: an event must not make the function load a multi-gigabyte object.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

import httpx

from nativa.config import Settings, load_settings
from nativa.errors import BadInputError, NativaError, ObjectNotFoundError, ObjectTooLargeError, StoreError  # noqa: F401 - defined in nativa.errors, importable from here as before


class ObjectReader(Protocol):
    """Where storage events' objects are read from; any class with this `read` will do."""

    def read(self, bucket: str, key: str, max_bytes: int) -> bytes:
        """The object's bytes; `ObjectNotFoundError` if missing, `ObjectTooLargeError` past `max_bytes`."""


class LocalObjectReader:
    """Objects as files under `root/<bucket>/<key>`; keys cannot climb out of `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def read(self, bucket: str, key: str, max_bytes: int) -> bytes:
        """The file's bytes; refuses a key outside the root, a missing file, or one over `max_bytes`."""
        path = (self.root / bucket / key).resolve()
        if not path.is_relative_to(self.root):
            raise BadInputError(f"object key {key!r} in bucket {bucket!r} points outside the store root")
        if not path.is_file():
            raise ObjectNotFoundError(f"no object s3://{bucket}/{key} (looked for {path})")
        size = path.stat().st_size
        if size > max_bytes:
            raise ObjectTooLargeError(f"object s3://{bucket}/{key} is {size} bytes; the limit is {max_bytes} "
                                      "(NATIVA_EVENT_MAX_BYTES)")
        return path.read_bytes()


def sigv4_headers(method: str, url: str, headers: Mapping[str, str], *, access_key: str, secret_key: str,
                  region: str, service: str = "s3", session_token: str | None = None) -> dict[str, str]:
    """The headers to add so `method url` carries an AWS Signature V4 (header-based, empty payload), signed by
    botocore's own S3 signer: the signing rules are AWS's to keep, not ours."""
    from botocore.auth import S3SigV4Auth, SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method=method.upper(), url=url, headers=dict(headers))
    signer = S3SigV4Auth if service == "s3" else SigV4Auth
    signer(Credentials(access_key, secret_key, session_token), service, region).add_auth(request)
    return {k: v for k, v in request.headers.items() if k.lower() != "host"}


class S3ObjectReader:
    """GET from an S3-compatible endpoint (path-style URLs), signed with SigV4, at most `max_bytes` read."""

    def __init__(self, endpoint_url: str, *, access_key: str, secret_key: str, region: str = "us-east-1",
                 session_token: str | None = None, timeout_s: float = 30.0) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.session_token = session_token
        self.timeout_s = timeout_s

    @classmethod
    def from_settings(cls, settings: Settings, endpoint_url: str | None = None) -> S3ObjectReader:
        """Credentials from the standard AWS variables (what a Lambda execution role provides), as read into
        the settings (`aws_*`)."""
        region = settings.aws_region or "us-east-1"
        access = settings.aws_access_key_id
        secret = settings.aws_secret_access_key.get_secret_value() if settings.aws_secret_access_key else None
        if not access or not secret:
            raise BadInputError("the S3 reader needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment")
        endpoint = endpoint_url or settings.s3_endpoint_url or f"https://s3.{region}.amazonaws.com"
        token = settings.aws_session_token.get_secret_value() if settings.aws_session_token else None
        return cls(endpoint, access_key=access, secret_key=secret, region=region, session_token=token)

    def read(self, bucket: str, key: str, max_bytes: int) -> bytes:
        """The object's bytes by one ranged GET of at most `max_bytes` + 1 bytes, so an over-large object
        is refused without being downloaded whole."""
        url = f"{self.endpoint_url}/{quote(bucket, safe='')}/{quote(key, safe='/-_.~')}"
        extra = {"range": f"bytes=0-{max_bytes}"}  # one byte more than allowed tells us it is too large
        headers = sigv4_headers("GET", url, extra, access_key=self.access_key, secret_key=self.secret_key,
                                region=self.region, session_token=self.session_token)
        try:
            response = httpx.get(url, headers=headers, timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            raise StoreError(f"could not reach the store at {self.endpoint_url}: {exc}") from None
        if response.status_code == 404:
            raise ObjectNotFoundError(f"no object s3://{bucket}/{key} at {self.endpoint_url}")
        if response.status_code == 416:  # empty object: no byte 0 to return
            return b""
        if response.status_code not in (200, 206):
            raise StoreError(f"the store answered {response.status_code} for s3://{bucket}/{key}: "
                             f"{response.text[:200]}")
        if len(response.content) > max_bytes:
            raise ObjectTooLargeError(f"object s3://{bucket}/{key} is larger than the limit of {max_bytes} bytes "
                                      "(NATIVA_EVENT_MAX_BYTES)")
        return response.content


def reader_from_spec(spec: str | None, settings: Settings | None = None) -> ObjectReader | None:
    """`local:/path` or `s3` or `s3:https://endpoint` (NATIVA_EVENT_STORE); None when unset."""
    if not spec:
        return None
    kind, _, rest = spec.partition(":")
    if kind == "local" and rest:
        return LocalObjectReader(Path(rest).expanduser())
    if kind == "s3":
        return S3ObjectReader.from_settings(settings or load_settings(), rest or None)
    raise BadInputError(f"NATIVA_EVENT_STORE={spec!r} is not valid; use local:/path, s3, or s3:https://endpoint")
