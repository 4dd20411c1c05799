"""What the browser tests share: Debian's headless chromium driven by Selenium (skipped when it
is not installed, failed in CI), and the check that nothing left 127.0.0.1."""

from __future__ import annotations

import os
import shutil

import pytest


def browser(width: int = 1280, height: int = 900):
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        reason = "chromium and chromium-driver are not installed (apt-get install chromium-driver)"
        if os.environ.get("BACKFORGE_REQUIRE_SERVICES") == "1":
            pytest.fail(reason + " and BACKFORGE_REQUIRE_SERVICES=1")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={width},{height}")
    options.binary_location = chromium
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


def only_this_server(driver, url: str, allowed_errors: tuple[str, ...] = ()) -> None:
    """Nothing was fetched from anywhere but this server, and the page's CSP held. Console
    errors containing one of `allowed_errors` (an expected 4xx answer) are let through."""
    problems = [
        entry["message"]
        for entry in driver.get_log("browser")
        if (entry["level"] == "SEVERE" or "Content Security Policy" in entry["message"])
        and not any(allowed in entry["message"] for allowed in allowed_errors)
    ]
    assert problems == [], problems
    resources = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert resources and all(resource.startswith(url) for resource in resources)
