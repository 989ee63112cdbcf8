"""Headless Chromium (Debian ``chromium`` + ``chromium-driver``) driven by Selenium, for the page tests.

Skips locally with a clear reason when the binaries are absent; fails in CI (``CI=1``), where
``.ci/install-system-deps`` installs them.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest

_IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def browser_binaries() -> tuple[str, str] | None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if os.access("/usr/bin/chromedriver", os.X_OK)
                                              else None)
    return (chromium, driver) if chromium and driver else None


def require_browser() -> tuple[str, str]:
    found = browser_binaries()
    if found is None:
        reason = "chromium / chromedriver not installed (Debian chromium + chromium-driver; .ci/install-system-deps)"
        if _IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def start_chromium(width: int = 360, height: int = 900) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = require_browser()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(driver), options=options)
    # headless windows are at least 500 px wide: emulate the phone's viewport instead
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})
    return browser
