"""Browser security in real Chromium against a real ``rawproc serve``.

- ``/api/docs/`` and ``/api/redoc/`` render from the app's own files, under the site's
  Content-Security-Policy, with no console error (a CSP violation would be one); the
  browser has no internet, so a CDN link would leave the page blank.
- After signing out, Back does not show the previous user's gallery: private pages are
  ``no-store``, so the browser asks again and is sent to the sign-in page.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By

from tests.web.conftest import Account, WebServer
from tests.web.pages import Pages

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


# Redoc's bundle shows a "powered by" logo from its vendor's CDN: the CSP blocks it (the
# point of the policy), which the console reports; nothing else may appear but the
# browser's own /favicon.ico probe on the Redoc page.
BLOCKED_ON_PURPOSE = "https://cdn.redoc.ly/"


def _console_errors(driver: WebDriver) -> list[str]:
    return [
        str(entry["message"])
        for entry in driver.get_log("browser")  # type: ignore[no-untyped-call]
        if entry["level"] == "SEVERE"
        and BLOCKED_ON_PURPOSE not in entry["message"]
        and "/favicon.ico " not in entry["message"]  # the browser's own probe: a 404
    ]


def test_api_docs_render_offline_under_the_csp(
    web_server: WebServer, browser_factory: Callable[..., WebDriver]
) -> None:
    driver = browser_factory()
    pages = Pages(driver, web_server)
    pages.open("/api/docs/")
    pages.wait(
        lambda: driver.find_elements(By.CSS_SELECTOR, ".opblock"), 60, "Swagger UI operations"
    )
    assert "/api/assets/" in driver.find_element(By.CSS_SELECTOR, "#swagger-ui").text
    assert _console_errors(driver) == []
    pages.open("/api/redoc/")
    pages.wait(lambda: "/api/assets/" in driver.find_element(By.TAG_NAME, "body").text, 60, "Redoc")
    assert _console_errors(driver) == []


def test_back_after_sign_out_does_not_show_the_gallery(
    web_server: WebServer, browser_factory: Callable[..., WebDriver], account: Account
) -> None:
    driver = browser_factory()
    pages = Pages(driver, web_server)
    pages.sign_in(account)
    pages.find("#dropzone")
    assert account.username in driver.find_element(By.CSS_SELECTOR, ".topbar").text
    driver.find_element(By.CSS_SELECTOR, ".topnav button[type=submit]").click()
    pages.find("#id_username")
    driver.back()
    pages.find("#id_username")  # the sign-in form again, not the cached gallery
    assert not driver.find_elements(By.CSS_SELECTOR, "#dropzone")
    assert account.username not in driver.find_element(By.TAG_NAME, "body").text
