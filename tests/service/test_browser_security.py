"""Browser security headers, in-process: CSP everywhere, no-store, forwarded protocol, docs.

The browser half (docs rendering offline under the CSP, Back after signing out) is in
tests/web/test_security.py.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("path", ["/", "/login/", "/api/docs/", "/api/redoc/", "/api/health/"])
def test_every_page_has_a_csp_without_inline_script(signed_in: Client, path: str) -> None:
    answer = signed_in.get(path)
    policy = answer["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    if path != "/api/redoc/":  # Redoc generates its styles; never its scripts
        assert "unsafe-inline" not in policy


@pytest.mark.parametrize("path", ["/", "/api/docs/", "/api/redoc/"])
def test_pages_carry_no_inline_script_or_style(signed_in: Client, path: str) -> None:
    html = signed_in.get(path).content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", html), html
    assert not re.search(r"\son[a-z]+=|\sstyle=|<style", html)
    assert "http://" not in html.replace("http://testserver", "") and "https://" not in html


def test_docs_scripts_come_from_the_app(signed_in: Client) -> None:
    html = signed_in.get("/api/docs/").content.decode()
    sources = re.findall(r'<script src="([^"]+)"', html)
    assert any("swagger-ui-bundle.js" in src for src in sources)
    assert all(src.startswith("/") for src in sources), sources
    init = signed_in.get(sources[-1].replace("&amp;", "&"))
    assert init.status_code == 200 and "SwaggerUIBundle" in init.content.decode()


@pytest.mark.parametrize("path", ["/", "/api/assets/", "/login/"])
def test_private_answers_are_not_stored(signed_in: Client, path: str) -> None:
    assert "no-store" in signed_in.get(path)["Cache-Control"]


def test_forwarded_proto_counts_only_from_trusted_proxies(settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    settings.RAWPROC_TRUSTED_PROXIES = ["10.0.0.0/8"]
    https: dict[str, Any] = {"HTTP_X_FORWARDED_PROTO": "https"}
    from_anyone = Client(REMOTE_ADDR="203.0.113.9").get("/login/", **https)
    assert from_anyone.status_code == 301  # still plain HTTP: redirected to https
    from_proxy = Client(REMOTE_ADDR="10.1.2.3").get("/login/", **https)
    assert from_proxy.status_code == 200
    assert from_proxy["Strict-Transport-Security"].startswith("max-age=")
