"""What the browser tests do on the pages, in a person's terms: sign in, drop files, wait.

Waits are bounded (the worker renders in the background on a shared machine) and fail
with what the page showed, so a failure says more than "timed out".
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import requests
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.web.conftest import Account, WebServer

PAGE_TIMEOUT = 30.0
PROCESS_TIMEOUT = 240.0

T = TypeVar("T")

# True once every <img> in the element has loaded real pixels.
_IMAGES_LOADED = """
const imgs = Array.from(arguments[0].querySelectorAll("img"));
return imgs.length > 0 && imgs.every((img) => img.complete && img.naturalWidth > 0);
"""
# The ready cards whose thumbnails have loaded, in one atomic look at the page.
_READY_CARDS = """
return Array.from(document.querySelectorAll('#gallery .card[data-status="ready"]')).filter(
  (card) => Array.from(card.querySelectorAll("img")).some((i) => i.complete && i.naturalWidth > 0)
);
"""
_CARD_TITLES = """
return Array.from(document.querySelectorAll("#gallery .card-title"), (e) => e.textContent);
"""
_METADATA = """
const rows = {};
for (const dt of document.querySelectorAll("#metadata dt")) {
  rows[dt.textContent.trim()] = dt.nextElementSibling.textContent.trim();
}
return rows;
"""


class Pages:
    def __init__(self, driver: WebDriver, server: WebServer) -> None:
        self.driver = driver
        self.server = server

    # ---- waiting

    def wait(self, condition: Callable[[], T | None], timeout: float, what: str) -> T:
        """Poll ``condition`` until it returns something truthy; fail saying ``what``.

        The gallery re-renders while it polls, so an element found a moment ago may be gone:
        the condition is then simply evaluated again.
        """
        try:
            # ``or False``: until() is typed to take False, not None, for "not yet".
            return WebDriverWait(
                self.driver,
                timeout,
                poll_frequency=0.25,
                ignored_exceptions=(StaleElementReferenceException,),
            ).until(lambda _: condition() or False)
        except TimeoutException:
            raise AssertionError(
                f"gave up after {timeout:.0f}s waiting for {what}; the page shows:\n"
                f"{self.driver.find_element(By.TAG_NAME, 'main').text}"
            ) from None

    def find(self, css: str) -> WebElement:
        return self.wait(
            lambda: next(iter(self.driver.find_elements(By.CSS_SELECTOR, css)), None),
            PAGE_TIMEOUT,
            f"an element {css!r}",
        )

    # ---- session

    def open(self, path: str) -> None:
        self.driver.get(self.server.url(path))

    def sign_in(self, account: Account, password: str | None = None) -> None:
        self.open("/login/")
        self.find("#id_username").send_keys(account.username)
        self.find("#id_password").send_keys(password or account.password)
        self.find("form button[type=submit]").click()

    def http(self) -> requests.Session:
        """A requests session with the browser's cookies, to check what links lead to."""
        session = requests.Session()
        for cookie in self.driver.get_cookies():
            session.cookies.set(cookie["name"], cookie["value"])
        return session

    # ---- gallery

    def upload(self, *paths: Path) -> None:
        self.find("#file-input").send_keys("\n".join(str(path) for path in paths))

    def upload_row(self, filename: str, state: str, timeout: float = PROCESS_TIMEOUT) -> WebElement:
        """The upload list entry for ``filename`` once it reaches ``state`` (done, error...)."""
        css = f'#upload-list li[data-filename="{filename}"].is-{state}'
        return self.wait(
            lambda: next(iter(self.driver.find_elements(By.CSS_SELECTOR, css)), None),
            timeout,
            f"the upload of {filename} to be {state}",
        )

    def ready_cards(self, count: int) -> list[WebElement]:
        """Wait until ``count`` cards are ready with their thumbnails loaded."""

        def loaded() -> list[WebElement] | None:
            cards: list[WebElement] = self.driver.execute_script(_READY_CARDS)
            return cards if len(cards) >= count else None

        return self.wait(loaded, PROCESS_TIMEOUT, f"{count} thumbnails")

    def card(self, filename: str) -> WebElement:
        return self.find(f'#gallery .card[data-filename="{filename}"]')

    def card_titles(self) -> list[str]:
        return [str(title) for title in self.driver.execute_script(_CARD_TITLES)]

    # ---- asset page

    def images_loaded(self, element: WebElement) -> bool:
        return bool(self.driver.execute_script(_IMAGES_LOADED, element))

    def metadata(self) -> dict[str, str]:
        self.find("#metadata dl")
        rows: dict[str, Any] = self.driver.execute_script(_METADATA)
        return {str(k): str(v) for k, v in rows.items()}

    def badge_text(self) -> str:
        return self.find("#asset-status").text.strip().lower()

    def screenshots(self, folder: Path, name: str) -> None:
        """``name.png`` in the light theme and ``name-dark.png`` in the dark one, as the
        system setting would choose them; the page follows the browser's default after."""
        for scheme, suffix in (("light", ""), ("dark", "-dark")):
            self.driver.execute_cdp_cmd(
                "Emulation.setEmulatedMedia",
                {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
            )
            self.driver.save_screenshot(str(folder / f"{name}{suffix}.png"))
        self.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})

    def no_horizontal_scroll(self) -> bool:
        return bool(
            self.driver.execute_script(
                "return document.documentElement.scrollWidth <= window.innerWidth;"
            )
        )
