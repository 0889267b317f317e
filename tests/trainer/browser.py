"""A real headless browser for page tests: Debian's chromium driven through chromedriver's W3C
WebDriver HTTP API (urllib only; no Python dependency). `headless_browser()` installs chromium
and chromium-driver with apt-get when they are missing and it can, and otherwise skips the
test with the reason."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager

import pytest

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference
KEYS = {"ArrowRight": "\ue014", "ArrowLeft": "\ue012", "End": "\ue010", "Home": "\ue011"}
PACKAGES = ("chromium", "chromium-driver")


def _tools() -> tuple[str | None, str | None]:
    return (shutil.which("chromium") or shutil.which("chromium-browser"),
            shutil.which("chromedriver"))


def ensure_chromium() -> tuple[str, str]:
    """(chromium, chromedriver) paths, installing the Debian packages when missing; skips the
    test (with the reason) where that cannot be done."""
    browser, driver = _tools()
    if browser and driver:
        return browser, driver
    if not shutil.which("apt-get"):
        pytest.skip("headless browser test: chromium/chromedriver missing and no apt-get to "
                    "install them (install chromium and its driver to run it)")
    if os.geteuid() != 0:
        pytest.skip("headless browser test: chromium/chromedriver missing; installing them "
                    f"needs root (apt-get install {' '.join(PACKAGES)})")
    try:
        subprocess.run(["apt-get", "install", "-y", *PACKAGES], check=True, timeout=900,
                       capture_output=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    except (subprocess.SubprocessError, OSError) as error:
        pytest.skip(f"headless browser test: apt-get install {' '.join(PACKAGES)} failed "
                    f"({str(error).splitlines()[0][:200]})")
    browser, driver = _tools()
    if not (browser and driver):
        pytest.skip("headless browser test: chromium/chromedriver still missing after apt-get")
    return browser, driver


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Browser:
    """One WebDriver session: open a page, find elements, press keys, read properties."""

    def __init__(self, base: str, session: str):
        self.base, self.session = base, session

    def _call(self, method: str, path: str, body=None):
        return _request(method, f"{self.base}/session/{self.session}{path}", body)

    def open(self, url: str) -> None:
        self._call("POST", "/url", {"url": url})

    def find(self, css: str) -> str:
        return self._call("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]

    def press(self, element: str, key: str) -> None:
        """Key events to the element (WebDriver focuses it first; a click would move a
        slider to where it lands)."""
        self._call("POST", f"/element/{element}/value", {"text": KEYS[key]})

    def property(self, element: str, name: str):
        return self._call("GET", f"/element/{element}/property/{name}")

    def text(self, element: str) -> str:
        return self._call("GET", f"/element/{element}/text")

    def script(self, source: str, *args):
        return self._call("POST", "/execute/sync", {"script": source, "args": list(args)})


def _request(method: str, url: str, body=None, timeout: float = 60):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"{}").get("value")


@contextmanager
def headless_browser():
    """A Browser on a fresh chromedriver + headless chromium, closed afterwards."""
    browser_path, driver_path = ensure_chromium()
    port = _free_port()
    driver = subprocess.Popen([driver_path, f"--port={port}"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if _request("GET", f"{base}/status", timeout=2).get("ready"):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or driver.poll() is not None:
                pytest.fail("chromedriver did not start within 30 s")
            time.sleep(0.2)
        options = {"binary": browser_path,
                   "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                            "--disable-dev-shm-usage", "--no-first-run"]}
        session = _request("POST", f"{base}/session", {"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": options}}}, timeout=120)
        browser = Browser(base, session["sessionId"])
        try:
            yield browser
        finally:
            try:
                _request("DELETE", f"{base}/session/{browser.session}")
            except OSError:
                pass
    finally:
        driver.terminate()
        try:
            driver.wait(timeout=10)
        except subprocess.TimeoutExpired:
            driver.kill()
