"""Limits on a real ``rawproc serve`` with two gunicorn processes, on the embedded stack.

- The per-user upload rate holds across both API processes (the counts are in the
  database cache every process shares): uploads accepted in a minute equal the limit.
- Sign-in lockout (django-axes): wrong passwords for one user name from one address lock
  that pair out at the limit, and then even the right password is refused.
- Request shapes through gunicorn: the app's JSON answers, and gunicorn's own limit beyond.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator

import pytest
import requests

from harness.processes import clean_env
from tests.service.live import RAWPROC, serve

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

RATE = 30
FAILURE_LIMIT = 4
PASSWORD = "a-long-enough-password-7"


class Live:
    def __init__(self, base: str, token: str, other_token: str) -> None:
        self.base = base
        self.token = token
        self.other_token = other_token  # a fresh upload budget


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    folder = tmp_path_factory.mktemp("limits")
    env = clean_env(
        {
            "RAWPROC_DATA_DIR": str(folder / "data"),
            "RAWPROC_LOG_LEVEL": "WARNING",
            "RAWPROC_UPLOAD_RATE": f"{RATE}/min",
            "RAWPROC_SIGNIN_FAILURE_LIMIT": str(FAILURE_LIMIT),
        }
    )
    token = subprocess.run(
        [RAWPROC, "token", "alice", "--password"],
        env=env,
        input=PASSWORD + "\n",
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    other = subprocess.run(
        [RAWPROC, "token", "bob"], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    with serve(folder, env, concurrency=1, web_workers=2) as (base, _):
        yield Live(base, token, other)


def test_upload_rate_holds_across_two_api_processes(live: Live) -> None:
    accepted = refused = 0
    for i in range(3 * RATE):
        # A new connection each time, so both gunicorn processes take requests.
        answer = requests.post(
            f"{live.base}/api/uploads/",
            json={"filename": f"r{i}.dng", "size": 1000},
            headers={"Authorization": f"Token {live.token}", "Connection": "close"},
            timeout=30,
        )
        assert answer.status_code in (201, 429), answer.text
        if answer.status_code == 201:
            accepted += 1
        else:
            refused += 1
            assert answer.json()["code"] == "throttled" and "Retry-After" in answer.headers
    print(f"uploads accepted: {accepted} of {3 * RATE} against {RATE}/min on 2 processes")
    assert accepted == RATE and refused == 2 * RATE


def _sign_in(session: requests.Session, base: str, password: str) -> requests.Response:
    form = session.get(f"{base}/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert token, form.text[:500]
    return session.post(
        f"{base}/login/",
        data={"username": "alice", "password": password, "csrfmiddlewaretoken": token.group(1)},
        headers={"Referer": f"{base}/login/"},
        allow_redirects=False,
        timeout=30,
    )


def test_sign_in_locks_out_after_the_failure_limit(live: Live) -> None:
    session = requests.Session()
    answers = [_sign_in(session, live.base, "wrong").status_code for _ in range(FAILURE_LIMIT)]
    # Every wrong password before the limit re-shows the form; the one reaching it locks.
    assert answers == [200] * (FAILURE_LIMIT - 1) + [429]
    locked = _sign_in(session, live.base, PASSWORD)
    assert locked.status_code == 429 and "Too many failed sign-ins" in locked.text
    print(f"sign-in: locked out at failed attempt {FAILURE_LIMIT}; right password then: 429")


def test_request_shapes_through_gunicorn(live: Live) -> None:
    base = live.base
    auth = {"Authorization": f"Token {live.other_token}"}
    json_type = {**auth, "Content-Type": "application/json"}
    form_type = {**auth, "Content-Type": "application/x-www-form-urlencoded"}
    big_json = b'{"a": "' + b"a" * 3_000_000 + b'"}'
    cases: list[tuple[str, requests.Response, int, str | None]] = [
        ("5 KB URI", requests.get(f"{base}/api/health/?q={'a' * 5000}"), 414, "uri_too_long"),
        (
            "1001 parameters",
            requests.get(f"{base}/api/health/?" + "&".join(["p"] * 1001)),
            400,
            "too_many_parameters",
        ),
        (
            "3 MB JSON",
            requests.post(f"{base}/api/uploads/", data=big_json, headers=json_type),
            413,
            "request_too_large",
        ),
        (
            "nested JSON",
            requests.post(
                f"{base}/api/uploads/", data=b"[" * 1000 + b"]" * 1000, headers=json_type
            ),
            400,
            "invalid_json",
        ),
        (
            "1001 fields",
            requests.post(f"{base}/api/assets/", data="&".join(["f=1"] * 1001), headers=form_type),
            400,
            "too_many_fields",
        ),
        # Past gunicorn's own request-line limit (8190): gunicorn answers, in HTML.
        ("9 KB URI", requests.get(f"{base}/api/health/?q={'a' * 9000}"), 414, None),
    ]
    for name, answer, status, code in cases:
        assert answer.status_code == status, (name, answer.status_code, answer.text[:200])
        if code is not None:
            assert answer.json()["code"] == code, name
