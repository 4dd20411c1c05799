"""The admin dashboard in a real browser (Debian's headless chromium) against `backforge serve`
on 127.0.0.1: signing in, a validation error shown beside its field, creating, editing and
deleting a record, uploading a file and seeing it, filtering the list, an account's actions,
the system pages, a phone's width, and a non-admin refused. Screenshots of the main pages go
to BACKFORGE_SCREENSHOTS (default: the test's temporary folder)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import httpx
import pytest
from PIL import Image

from browser_support import browser as chromium
from browser_support import only_this_server

DECLARATION = """\
name: dash
collections:
  users:
    auth: {signup: open, login: [email]}
    fields:
      name: {type: text}
    rules: {view: "id = auth.id", update: "id = auth.id"}
  products:
    fields:
      name: {type: text, required: true, max_length: 80}
      price: {type: decimal, min: 0}
      in_stock: {type: bool, default: true}
      photo: {type: file, accept: ["image/*"], thumbs: ["100x100"]}
    rules: {list: "true", view: "true"}
webhooks:
  product_made: {on: products.create, url_env: DASH_WEBHOOK_URL, secret_env: DASH_WEBHOOK_SECRET}
"""


def _serve(make_server, tmp_path: Path):
    declaration = tmp_path / "dash.yaml"
    declaration.write_text(DECLARATION)
    server = make_server("shop.yaml")  # its environment; the declaration is ours
    server.declaration = declaration
    server.environment["BACKFORGE_JWT_SECRET"] = "a-test-secret-of-at-least-32-bytes-long!"
    # No worker runs: the webhook's deliveries wait in the outbox, as the jobs page shows.
    server.environment["DASH_WEBHOOK_URL"] = "http://127.0.0.1:9/hook"
    server.environment["DASH_WEBHOOK_SECRET"] = "a-webhook-secret-of-32-bytes-or-more!"
    return server.start("--dev", "--no-reload")


def _account(server, admin_headers, email: str, admin: bool) -> str:
    made = httpx.post(
        f"{server.url}/api/auth/users/signup",
        json={"email": email, "password": "correct horse battery"},
    )
    assert made.status_code == 201, made.text
    user_id = made.json()["user"]["id"] if "user" in made.json() else made.json()["record"]["id"]
    if admin:
        promoted = httpx.patch(
            f"{server.url}/api/users/{user_id}", json={"admin": True}, headers=admin_headers
        )
        assert promoted.status_code == 200, promoted.text
    return user_id


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_an_admin_manages_records_in_the_dashboard(make_server, admin, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    server = _serve(make_server, tmp_path)
    for name, price in (("desk lamp", "25.00"), ("floor lamp", "80.00"), ("chair", "45.00")):
        made = httpx.post(
            f"{server.url}/api/products", json={"name": name, "price": price}, headers=admin
        )
        assert made.status_code == 201, made.text
    shots = Path(os.environ.get("BACKFORGE_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    picture = tmp_path / "red.png"
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (210, 40, 40)).save(buffer, "PNG")
    picture.write_bytes(buffer.getvalue())

    browser = chromium()
    wait = WebDriverWait(browser, 30)

    def text_of(selector: str) -> str:
        return browser.find_element(By.CSS_SELECTOR, selector).text

    def shown(selector: str):
        return wait.until(ready.visibility_of_element_located((By.CSS_SELECTOR, selector)))

    try:
        browser.get(f"{server.url}/_/")
        shown("#admin-token").send_keys("not-the-token")
        browser.find_element(By.CSS_SELECTOR, "#token-form button[type=submit]").click()
        wait.until(ready.text_to_be_present_in_element((By.ID, "login-feedback"), "not the admin"))
        browser.save_screenshot(str(shots / "dashboard-login.png"))
        token = browser.find_element(By.ID, "admin-token")
        token.clear()
        token.send_keys(server.environment["BACKFORGE_ADMIN_TOKEN"])
        browser.find_element(By.CSS_SELECTOR, "#token-form button[type=submit]").click()

        # The list: every collection in the menu, records, filtered.
        shown("#nav-products").click()
        wait.until(ready.text_to_be_present_in_element((By.ID, "total"), "3 records"))
        shown("#filter").send_keys("name ~ 'lamp'")
        browser.find_element(By.ID, "apply-filter").click()
        wait.until(ready.text_to_be_present_in_element((By.ID, "total"), "2 records"))
        rows = browser.find_elements(By.CSS_SELECTOR, "#records tbody tr")
        assert sorted(r.find_elements(By.TAG_NAME, "td")[1].text for r in rows) == [
            "desk lamp",
            "floor lamp",
        ]
        browser.save_screenshot(str(shots / "dashboard-list.png"))

        # Create: a validation error shown beside its field, then the record with a photo.
        browser.find_element(By.ID, "new-record").click()
        shown("#field-price").send_keys("-3")
        browser.find_element(By.ID, "save").click()
        error = shown(".field[data-field=name] .error")
        wait.until(lambda _: error.text != "")
        assert "required" in error.text
        assert "at least 0" in text_of(".field[data-field=price] .error")
        browser.save_screenshot(str(shots / "dashboard-validation.png"))
        browser.find_element(By.ID, "field-name").send_keys("reading lamp")
        price = browser.find_element(By.ID, "field-price")
        price.clear()
        price.send_keys("30.50")
        browser.find_element(By.ID, "field-photo").send_keys(str(picture))
        browser.find_element(By.ID, "save").click()
        wait.until(ready.text_to_be_present_in_element((By.ID, "feedback"), "Created."))
        image = shown(".file img")
        wait.until(lambda _: browser.execute_script("return arguments[0].naturalWidth", image) > 0)
        assert browser.execute_script("return arguments[0].naturalWidth", image) == 100  # thumb
        browser.save_screenshot(str(shots / "dashboard-record.png"))
        record_id = browser.current_url.rsplit("/", 1)[1]
        stored = httpx.get(f"{server.url}/api/products/{record_id}").json()
        assert stored["name"] == "reading lamp" and stored["price"] == "30.50"
        assert stored["photo"].endswith(".png")

        # Edit, with the version as If-Match.
        price = browser.find_element(By.ID, "field-price")
        price.clear()
        price.send_keys("32.00")
        browser.find_element(By.ID, "save").click()
        wait.until(ready.text_to_be_present_in_element((By.ID, "feedback"), "Saved."))
        changed = httpx.get(f"{server.url}/api/products/{record_id}").json()
        assert changed["price"] == "32.00" and changed["version"] == 2
        assert changed["photo"] == stored["photo"]

        # Delete, confirmed.
        browser.find_element(By.ID, "delete").click()
        browser.switch_to.alert.accept()
        wait.until(ready.text_to_be_present_in_element((By.ID, "total"), "records"))
        gone = httpx.get(f"{server.url}/api/products/{record_id}")
        assert gone.status_code == 404

        # System pages: each create queued a webhook delivery (no worker runs here).
        browser.find_element(By.ID, "nav-jobs").click()
        wait.until(ready.text_to_be_present_in_element((By.ID, "jobs"), "product_made"))
        assert "pending: 4" in browser.find_element(By.ID, "main").text
        browser.save_screenshot(str(shots / "dashboard-jobs.png"))
        browser.find_element(By.ID, "nav-webhooks").click()
        wait.until(ready.text_to_be_present_in_element((By.ID, "main"), "No deliveries yet"))
        browser.find_element(By.ID, "nav-migrations").click()
        wait.until(ready.text_to_be_present_in_element((By.ID, "migration-status"), "matches"))
        browser.find_element(By.ID, "nav-rules").click()
        shown("#explain").click()
        wait.until(ready.text_to_be_present_in_element((By.ID, "verdict"), "Admitted"))
        browser.save_screenshot(str(shots / "dashboard-rules.png"))

        # A phone's width: the menu folds, the list still reads.
        browser.set_window_size(390, 844)
        browser.get(f"{server.url}/_/#/c/products")
        wait.until(ready.text_to_be_present_in_element((By.ID, "total"), "records"))
        assert shown(".menu-toggle").is_displayed()
        assert not browser.find_element(By.CSS_SELECTOR, "nav .links").is_displayed()
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= 390
        browser.save_screenshot(str(shots / "dashboard-phone.png"))
        only_this_server(browser, server.url, allowed_errors=("401", "422"))
    finally:
        browser.quit()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_accounts_in_the_dashboard_and_non_admins_refused(make_server, admin, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    server = _serve(make_server, tmp_path)
    admin_id = _account(server, admin, "boss@example.com", admin=True)
    member_id = _account(server, admin, "member@example.com", admin=False)
    login = httpx.post(
        f"{server.url}/api/auth/users/login",
        json={"email": "member@example.com", "password": "correct horse battery"},
    ).json()
    member = {"Authorization": f"Bearer {login['access_token']}"}
    assert httpx.get(f"{server.url}/api/admin/schema", headers=member).status_code == 403
    assert httpx.get(f"{server.url}/api/admin/schema").status_code in (401, 403)

    browser = chromium()
    wait = WebDriverWait(browser, 30)

    def shown(selector: str):
        return wait.until(ready.visibility_of_element_located((By.CSS_SELECTOR, selector)))

    def sign_in(email: str) -> None:
        shown("#tab-account").click()
        shown("#account-email").send_keys(email)
        browser.find_element(By.ID, "account-password").send_keys("correct horse battery")
        browser.find_element(By.CSS_SELECTOR, "#account-form button[type=submit]").click()

    try:
        browser.get(f"{server.url}/_/")
        sign_in("member@example.com")
        wait.until(ready.text_to_be_present_in_element((By.ID, "login-feedback"), "not an admin"))
        assert browser.execute_script("return sessionStorage.length") == 0

        browser.get(f"{server.url}/_/")
        sign_in("boss@example.com")
        shown("#nav-users")
        browser.get(f"{server.url}/_/#/c/users/r/{member_id}")
        shown("#account")
        wait.until(ready.text_to_be_present_in_element((By.ID, "api-keys"), "No API keys"))
        # The admin verifies the member through the record form (a read-only field for others).
        verified = shown("#field-verified")
        if not verified.is_selected():
            verified.click()
        browser.find_element(By.ID, "save").click()
        wait.until(ready.text_to_be_present_in_element((By.ID, "feedback"), "Saved."))
        assert httpx.get(f"{server.url}/api/users/{member_id}", headers=admin).json()["verified"]
        # Ending the member's logins makes its refresh token useless.
        shown("#end-logins").click()
        wait.until(ready.text_to_be_present_in_element((By.ID, "account"), "has ended"))
        refreshed = httpx.post(
            f"{server.url}/api/auth/users/refresh", json={"refresh_token": login["refresh_token"]}
        )
        assert refreshed.status_code in (400, 401), refreshed.text
        again = httpx.post(
            f"{server.url}/api/auth/users/login",
            json={"email": "member@example.com", "password": "correct horse battery"},
        ).json()
        renewed = httpx.post(
            f"{server.url}/api/auth/users/refresh", json={"refresh_token": again["refresh_token"]}
        )
        assert renewed.status_code == 200  # a login made afterwards refreshes as usual
        assert admin_id != member_id
        only_this_server(browser, server.url, allowed_errors=("401", "403"))
    finally:
        browser.quit()
