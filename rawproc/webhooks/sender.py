"""Signing and sending one webhook request, Django-free.

Signatures follow the Standard Webhooks specification: ``webhook-signature`` is
``v1,`` + base64 of HMAC-SHA256 over ``{webhook-id}.{webhook-timestamp}.{body}`` keyed with
the bytes of the ``whsec_`` secret.

The request goes to an address checked immediately before (``addresses.resolve``) and no
other: the connection is opened to that IP while the Host header and TLS server name (and
certificate check) stay those of the URL, so a name that resolves elsewhere on a second
lookup (DNS rebinding) cannot redirect it. Redirects are not followed; connect and read
times are bounded and at most ``MAX_RESPONSE_BYTES`` of the answer are read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import secrets
import socket
import ssl
import time
from dataclasses import dataclass

from rawproc.webhooks.addresses import IPAddress, UrlRefused, default_port, parse_url, resolve

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "raw-processor-webhooks/1"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


@dataclass(frozen=True)
class SendResult:
    """What one attempt got: an HTTP status, or an error (``status_code`` ``None``)."""

    status_code: int | None
    error: str
    response_body: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, ip: IPAddress, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._ip = ip

    def connect(self) -> None:
        self.sock = socket.create_connection((str(self._ip), self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, ip: IPAddress, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._ip = ip

    def connect(self) -> None:
        raw = socket.create_connection((str(self._ip), self.port), self.timeout)
        # The certificate is checked against the URL's host name, not the IP connected to.
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


def send(
    url: str,
    *,
    secret: str,
    message_id: str,
    body: bytes,
    allow_private: bool,
    connect_timeout: float,
    read_timeout: float,
) -> SendResult:
    """POST ``body`` to ``url``, signed; never raises for a network or HTTP failure."""
    started = time.monotonic()

    def result(status_code: int | None, error: str, response_body: str = "") -> SendResult:
        elapsed = round((time.monotonic() - started) * 1000)
        return SendResult(status_code, error[:1000], response_body[:1000], elapsed)

    try:
        parts = parse_url(url, allow_private=allow_private)
        assert parts.hostname is not None
        port = default_port(parts)
        ip = resolve(parts.hostname, port, allow_private=allow_private)[0]
    except UrlRefused as exc:
        return result(None, f"{exc.code}: {exc.message}")
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
    }
    kind = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    connection = kind(parts.hostname, port, ip, connect_timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.connect()
        assert connection.sock is not None
        connection.sock.settimeout(read_timeout)
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read(MAX_RESPONSE_BYTES).decode("utf-8", errors="replace")
        error = "" if 200 <= response.status < 300 else f"HTTP {response.status}"
        return result(response.status, error, answer)
    except TimeoutError:
        return result(None, "timeout: no answer in time")
    except ssl.SSLError as exc:
        return result(None, f"tls: {exc}")
    except (OSError, http.client.HTTPException) as exc:
        return result(None, f"connection: {type(exc).__name__}: {exc}")
    finally:
        connection.close()
