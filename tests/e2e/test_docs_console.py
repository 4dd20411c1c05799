"""The API console at /docs in a real browser (Debian's headless chromium): it loads with no
request leaving 127.0.0.1, authorizes with a bearer token and runs a request."""

from __future__ import annotations

import httpx
import pytest

from browser_support import browser as chromium
from browser_support import only_this_server


def _notes_server(make_server, admin, tmp_path, rules: str, title: str):
    """`backforge serve --dev` of a declaration with one collection of notes (under `rules`),
    holding one note with `title`."""
    declaration = tmp_path / "console.yaml"
    declaration.write_text(
        "name: console\n"
        "collections:\n"
        "  notes:\n"
        "    fields: {title: {type: text, required: true}}\n"
        f"    rules: {rules}\n"
    )
    server = make_server("shop.yaml")  # its environment; the declaration is ours
    server.declaration = declaration
    server.start("--dev")
    made = httpx.post(f"{server.url}/api/notes", json={"title": title}, headers=admin)
    assert made.status_code == 201, made.text
    return server


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_console_authorizes_with_a_token_and_runs_a_request(make_server, admin, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    # listing is for admins only
    server = _notes_server(make_server, admin, tmp_path, "{view: public}", "seen-by-admins")

    browser = chromium()
    wait = WebDriverWait(browser, 30)
    try:
        browser.get(f"{server.url}/docs")
        listing = wait.until(ready.element_to_be_clickable((By.ID, "operations-admin-list_notes")))
        # Admin-only operations are grouped apart.
        tags = [
            e.get_attribute("data-tag")
            for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-tag")
        ]
        assert tags[-1] == "admin" and "notes" in tags

        browser.find_element(By.CSS_SELECTOR, ".auth-wrapper .authorize").click()
        modal = wait.until(ready.visibility_of_element_located((By.CSS_SELECTOR, ".modal-ux")))
        bearer = next(
            block
            for block in modal.find_elements(By.CSS_SELECTOR, ".auth-container")
            if block.text.startswith("bearer")
        )
        bearer.find_element(By.CSS_SELECTOR, "input").send_keys(
            server.environment["BACKFORGE_ADMIN_TOKEN"]
        )
        bearer.find_element(By.CSS_SELECTOR, "button.modal-btn.auth").click()
        modal.find_element(By.CSS_SELECTOR, "button.btn-done").click()

        listing.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
        wait.until(
            ready.element_to_be_clickable(
                (By.CSS_SELECTOR, "#operations-admin-list_notes .execute")
            )
        ).click()
        status = wait.until(
            ready.presence_of_element_located(
                (
                    By.CSS_SELECTOR,
                    "#operations-admin-list_notes .live-responses-table tbody .response-col_status",
                )
            )
        )
        assert status.text.strip() == "200"
        body = browser.find_element(
            By.CSS_SELECTOR, "#operations-admin-list_notes .live-responses-table .microlight"
        ).text
        assert "seen-by-admins" in body
        only_this_server(browser, server.url)
    finally:
        browser.quit()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_graphql_console_runs_a_query(make_server, admin, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    rules = "{list: public, view: public}"
    server = _notes_server(make_server, admin, tmp_path, rules, "seen-in-graphiql")

    browser = chromium()
    wait = WebDriverWait(browser, 30)
    try:
        browser.get(
            f"{server.url}/graphql?query=%7B%20notes%20%7B%20items%20%7B%20title%20%7D%20%7D%20%7D"
        )
        wait.until(ready.element_to_be_clickable((By.CSS_SELECTOR, ".graphiql-execute-button")))
        browser.find_element(By.CSS_SELECTOR, ".graphiql-execute-button").click()
        wait.until(
            ready.text_to_be_present_in_element(
                (By.CSS_SELECTOR, ".graphiql-response"), "seen-in-graphiql"
            )
        )
        only_this_server(browser, server.url)
    finally:
        browser.quit()
