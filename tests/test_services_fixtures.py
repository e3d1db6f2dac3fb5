"""The SeaweedFS fixture is a real, signature-enforcing S3 server that can be taken down."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import redis
import requests

from harness.processes import ServiceUnavailable, free_ports
from harness.seaweedfs import SeaweedFS
from tests.services import require_postgres

BODY = b"\x00raw bytes \xff" * 100


@pytest.fixture
def stored(seaweedfs: SeaweedFS) -> tuple[str, str]:
    """A bucket holding one object with BODY; returns (bucket, key)."""
    bucket = seaweedfs.create_bucket()
    seaweedfs.client().put_object(Bucket=bucket, Key="a/b.bin", Body=BODY)
    return bucket, "a/b.bin"


def presigned_get(seaweedfs: SeaweedFS, bucket: str, key: str, expires_in: int = 60) -> str:
    url: str = seaweedfs.client().generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_in
    )
    return url


def with_signature_byte_changed(url: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    signature = query["X-Amz-Signature"]
    query["X-Amz-Signature"] = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_put_then_get_returns_the_same_bytes(seaweedfs: SeaweedFS, stored: tuple[str, str]) -> None:
    bucket, key = stored
    assert seaweedfs.client().get_object(Bucket=bucket, Key=key)["Body"].read() == BODY


def test_created_buckets_have_fresh_valid_names(seaweedfs: SeaweedFS) -> None:
    names = {seaweedfs.create_bucket(prefix="x" * 80) for _ in range(2)}
    assert len(names) == 2
    assert all(3 <= len(name) <= 63 for name in names)
    listed = {b["Name"] for b in seaweedfs.client().list_buckets()["Buckets"]}
    assert names <= listed


def test_presigned_get_serves_the_object(seaweedfs: SeaweedFS, stored: tuple[str, str]) -> None:
    response = requests.get(presigned_get(seaweedfs, *stored), timeout=10)
    assert response.status_code == 200
    assert response.content == BODY


def test_tampered_presigned_url_is_refused(seaweedfs: SeaweedFS, stored: tuple[str, str]) -> None:
    url = with_signature_byte_changed(presigned_get(seaweedfs, *stored))
    assert requests.get(url, timeout=10).status_code == 403


def test_expired_presigned_url_is_refused(seaweedfs: SeaweedFS, stored: tuple[str, str]) -> None:
    url = presigned_get(seaweedfs, *stored, expires_in=1)
    time.sleep(2)
    assert requests.get(url, timeout=10).status_code == 403


def test_anonymous_get_is_refused(seaweedfs: SeaweedFS, stored: tuple[str, str]) -> None:
    bucket, key = stored
    response = requests.get(f"{seaweedfs.endpoint_url}/{bucket}/{key}", timeout=10)
    assert response.status_code == 403


def test_stop_refuses_connections_and_start_keeps_the_data(
    seaweedfs: SeaweedFS, stored: tuple[str, str]
) -> None:
    bucket, key = stored
    with seaweedfs.down():
        assert not seaweedfs.running
        with pytest.raises(requests.ConnectionError):
            requests.get(seaweedfs.endpoint_url, timeout=5)
    assert seaweedfs.client().get_object(Bucket=bucket, Key=key)["Body"].read() == BODY


def test_server_that_cannot_start_fails_with_its_log(tmp_path: Path) -> None:
    server = SeaweedFS(tmp_path, binary="/bin/false")
    with pytest.raises(ServiceUnavailable, match="exited with status 1"):
        server.start(timeout=5)
    assert not server.running


def test_redis_url_answers(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.ping() is True
    finally:
        client.close()


def test_require_postgres_returns_the_database_url() -> None:
    assert urlsplit(require_postgres()).scheme.startswith("postgres")


def test_require_postgres_fails_clearly_when_nothing_listens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (port,) = free_ports(1)
    monkeypatch.setenv("DATABASE_URL", f"postgres://postgres@127.0.0.1:{port}/test")
    message = f"PostgreSQL does not answer at 127.0.0.1:{port}"
    with pytest.raises(pytest.fail.Exception, match=message):
        require_postgres()
