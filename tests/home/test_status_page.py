"""The live status page in a real headless Chromium (Selenium), against a real runtime (sim backend)
serving it over real HTTP: no console errors, usable at 360 px, the plugged EV shows, a setting
changed on the page reaches the charger, a fault is reset from the page."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from chargepoint.api import LocalApi
from chargepoint.app import build_runtime
from chargepoint.clock import RealClock
from chargepoint.config import load_config
from chargepoint.controller.types import Fault
from tests.home.browser import require_browser, start_chromium


def _wait(predicate: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _text(driver: Any, css: str) -> str:
    from selenium.webdriver.common.by import By

    elements = driver.find_elements(By.CSS_SELECTOR, css)
    return str(elements[0].text) if elements else ""


def _errors(driver: Any) -> list[Any]:
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


async def test_page_live_in_headless_chromium(tmp_path: Path) -> None:
    require_browser()
    cfg = load_config(env={}, overrides={"chargepoint.data_dir": str(tmp_path), "http.listen": "127.0.0.1:0"})
    runtime = build_runtime(cfg, RealClock())
    await runtime.start()
    local = next(s for s in runtime.services if isinstance(s, LocalApi))
    base = f"http://127.0.0.1:{local.bound_port}"
    driver = await asyncio.to_thread(start_chromium)
    try:
        async with aiohttp.ClientSession(base) as http:
            async with http.get("/") as r:  # served from the package, nothing from elsewhere
                page = await r.text()
                assert r.status == 200 and "http://" not in page and "https://" not in page

        def load() -> None:
            from selenium.webdriver.common.by import By

            driver.get(base + "/")
            _wait(lambda: _text(driver, "#link") == "live", 10, "the event stream")
            _wait(lambda: "A (A)" in _text(driver, '[data-connector="1"] .c-iec'), 10, "connector 1 state A")
            # usable at 360 px: nothing wider than the viewport, every input has a label
            inner = driver.execute_script("return window.innerWidth")
            width = driver.execute_script("return document.documentElement.scrollWidth")
            wide = driver.execute_script(
                "return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > "
                "window.innerWidth + 1).map(e => e.tagName + '.' + e.className + '#' + e.id).slice(0, 8)")
            assert inner <= 360 and width <= inner, (inner, width, wide)
            for el in driver.find_elements(By.CSS_SELECTOR, "input, select"):
                ident = el.get_attribute("id")
                assert driver.find_elements(By.CSS_SELECTOR, f'label[for="{ident}"]'), ident
            assert _text(driver, "#mode option:checked") == "Normal"

        await asyncio.to_thread(load)
        # the simulated EV is plugged in (over the API, as a CSMS test would)
        assert runtime.station is not None
        runtime.station.board.plug(1, cable_a=32.0)
        await asyncio.to_thread(_wait, lambda: _text(driver, '[data-connector="1"] .c-iec').startswith("B"), 10,
                                "state B on the page")

        def clear_field() -> None:
            from selenium.webdriver.common.by import By

            driver.find_element(By.ID, "max_mains_a").clear()

        await asyncio.to_thread(clear_field)
        # a live update while the user is in the field does not write over what they are editing
        runtime.station.board.unplug(1)
        await asyncio.to_thread(_wait, lambda: _text(driver, '[data-connector="1"] .c-iec').startswith("A"), 10,
                                "state A on the page")
        runtime.station.board.plug(1, cable_a=32.0)
        await asyncio.to_thread(_wait, lambda: _text(driver, '[data-connector="1"] .c-iec').startswith("B"), 10,
                                "state B again on the page")
        value = await asyncio.to_thread(driver.execute_script, "return document.getElementById('max_mains_a').value")
        assert value == ""

        def change_settings() -> None:
            from selenium.webdriver.common.by import By
            from selenium.webdriver.support.ui import Select

            field = driver.find_element(By.ID, "max_mains_a")
            field.send_keys("20")
            Select(driver.find_element(By.ID, "mode")).select_by_visible_text("Smart")
            driver.find_element(By.ID, "save").click()
            _wait(lambda: _text(driver, "#settings-result") == "Saved.", 10,
                  f"Saved. (got {_text(driver, '#settings-result')!r}, console {driver.get_log('browser')})")

        await asyncio.to_thread(change_settings)
        assert runtime.energy is not None
        assert runtime.energy.settings.max_mains_a == 20 and runtime.energy.settings.mode == "smart"

        # a latched fault shows with a reset button; the button clears it once the cause is gone
        board = runtime.station.board
        board.inject_fault(1, "rcd", True)
        await asyncio.to_thread(_wait, lambda: "rcd" in _text(driver, '[data-connector="1"] .c-faults'), 10,
                                "rcd fault on the page")
        board.inject_fault(1, "rcd", False)  # the cause is gone; the fault stays latched until reset
        await asyncio.sleep(0.5)
        assert Fault.RCD in runtime.station.snapshot(1).faults

        def reset() -> None:
            from selenium.webdriver.common.by import By

            driver.find_element(By.CSS_SELECTOR, '[data-connector="1"] .c-faults button').click()
            _wait(lambda: _text(driver, '[data-connector="1"] .c-faults') == "none", 10, "fault cleared")

        await asyncio.to_thread(reset)
        assert Fault.RCD not in runtime.station.snapshot(1).faults
        errors = await asyncio.to_thread(_errors, driver)
        assert errors == [], errors
    finally:
        await asyncio.to_thread(driver.quit)
        await runtime.stop()


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-q"])
