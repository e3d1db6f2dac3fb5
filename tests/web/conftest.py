"""Fixtures for the browser tests: a real ``rawproc serve`` and Debian's headless Chromium.

The server runs as a subprocess (``serve`` from tests/service/live.py) on the embedded stack
(SQLite, file storage, file-system broker) in a temporary folder, with its real Celery
worker, so thumbnails appear because the worker rendered them. Chromium and its driver come
from Debian's ``chromium`` and ``chromium-driver`` packages; the driver path is passed
explicitly so Selenium never tries to download a browser or a driver.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from harness.processes import clean_env
from tests.service.live import serve

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Small enough that a sparse test file can exceed it, large enough for every RAW fixture.
MAX_UPLOAD_BYTES = 8_000_000
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

_CREATE_USER = """
import os
from django.contrib.auth.models import User
User.objects.create_user(os.environ["WEB_TEST_USER"], password=os.environ["WEB_TEST_PASSWORD"])
"""


@dataclass(frozen=True)
class Account:
    username: str
    password: str


@dataclass
class WebServer:
    base: str
    env: dict[str, str]
    log: Path

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def create_user(self, username: str) -> Account:
        """A user with a password (API tokens are not enough to sign in to the pages)."""
        account = Account(username, secrets.token_urlsafe(12))
        env = {**self.env, "WEB_TEST_USER": username, "WEB_TEST_PASSWORD": account.password}
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", _CREATE_USER],
            cwd=REPO,
            env=env,
            check=True,
            capture_output=True,
        )
        return account


@contextmanager
def running_web_server(folder: Path, extra: dict[str, str] | None = None) -> Iterator[WebServer]:
    """``rawproc serve`` on the embedded stack in ``folder``, plus ``extra`` settings."""
    env = clean_env(
        {
            "RAWPROC_DATA_DIR": str(folder / "data"),
            "RAWPROC_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
            "RAWPROC_FULL_RENDITION": "1",
            "RAWPROC_LOG_LEVEL": "WARNING",
            **(extra or {}),
        }
    )
    with serve(folder, env, concurrency=1, web_workers=2) as (base, _):
        yield WebServer(base, env, folder / "serve.log")


@pytest.fixture(scope="module")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    """The server for the tests of one module."""
    with running_web_server(tmp_path_factory.mktemp("web")) as server:
        yield server


@pytest.fixture
def account(web_server: WebServer) -> Account:
    """A fresh user per test, so every test starts with an empty library."""
    return web_server.create_user(f"u{secrets.token_hex(4)}")


def _require_chromium() -> None:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not found: install Debian's chromium and chromium-driver "
            "(`apt-get install chromium chromium-driver`; .ci/run does this)"
        )


@pytest.fixture
def browser_factory(tmp_path: Path) -> Iterator[Callable[..., webdriver.Chrome]]:
    """Start headless Chromium windows (desktop-sized unless told, downloading into
    ``downloads`` when given); all are closed after."""
    _require_chromium()
    drivers: list[webdriver.Chrome] = []

    def start(
        width: int = 1400, height: int = 1000, downloads: Path | None = None
    ) -> webdriver.Chrome:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        if downloads is not None:
            # Files a page downloads land in ``downloads``, several at once without a prompt.
            options.add_experimental_option(
                "prefs",
                {
                    "download.default_directory": str(downloads),
                    "download.prompt_for_download": False,
                    "profile.default_content_setting_values.automatic_downloads": 1,
                },
            )
        options.add_argument(f"--user-data-dir={tmp_path / f'chromium-{len(drivers)}'}")
        options.add_argument(f"--window-size={width},{height}")
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        drivers.append(driver)
        return driver

    yield start
    for driver in drivers:
        driver.quit()


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    """Where screenshots go: ``RAWPROC_SCREENSHOT_DIR`` (e.g. docs/images) or a temp folder."""
    target = Path(os.environ.get("RAWPROC_SCREENSHOT_DIR") or tmp_path / "screenshots")
    target.mkdir(parents=True, exist_ok=True)
    return target
