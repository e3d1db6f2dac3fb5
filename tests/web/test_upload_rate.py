"""The gallery under the per-user upload rate: throttled uploads wait and go on by themselves.

A server of its own with ``RAWPROC_UPLOAD_RATE=1/s``: the gallery starts three uploads at
once; the API's two processes count them atomically, so at most one passes in the second
and the others are answered ``429 throttled``; the page waits as ``Retry-After`` says and
sends them again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver

from tests.fixtures.dngmaker import make_dng
from tests.web.conftest import Account, WebServer, running_web_server
from tests.web.pages import Pages

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    folder = tmp_path_factory.mktemp("web-rate")
    with running_web_server(folder, {"RAWPROC_UPLOAD_RATE": "1/s"}) as server:
        yield server


def test_throttled_uploads_wait_and_complete(
    web_server: WebServer,
    browser_factory: Callable[..., WebDriver],
    account: Account,
    tmp_path: Path,
) -> None:
    pages = Pages(browser_factory(), web_server)
    pages.sign_in(account)
    pages.find("#dropzone")
    files = [
        make_dng(tmp_path / f"rate-{seed}.dng", width=300, height=200, preview_size=160, seed=seed)
        for seed in range(6)
    ]
    pages.upload(*files)
    for path in files:
        pages.upload_row(path.name, "done")
    assert '"POST /api/uploads/ HTTP/1.1" 429' in web_server.log.read_text()
