"""The Program page in Debian's headless chromium against head office served on loopback: an owner publishes
an earning rule and an offer by filling the forms as a person would, sees a refused value next to its
field, the published version in the history and which tills applied it. Screenshots in a temporary
directory (and, with CONSOLE_SCREENSHOTS=DIR, in DIR)."""

from __future__ import annotations

import pytest

from tests.console.conftest import PASSWORD, browser_log_in, screenshot


@pytest.fixture
def served(ho_store):
    from headoffice.console import accounts
    from headoffice.server import ServerThread

    accounts.add_user(ho_store, "olivia", "owner", None, PASSWORD)
    server = ServerThread(ho_store).start()
    yield server
    server.stop()


def test_an_owner_publishes_earning_and_an_offer_in_the_browser(served, ho_store, chromium, tmp_path):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    for store_id in ("S1", "S2"):
        ho_store.register(ho_store.add_till(store_id, "T1"))
    browser = chromium()
    browser_log_in(browser, served.url, "olivia")

    def main_text() -> str:
        try:
            return browser.find_element(By.TAG_NAME, "main").text
        except StaleElementReferenceException:  # the form's POST replaced the page while it was read
            return ""

    # a refused value is shown next to its field, and nothing is published
    browser.get(served.url + "/program")
    browser.find_element(By.NAME, "earning-0-unit_cents").send_keys("0")
    browser.find_element(By.ID, "earning-reason").send_keys("typo")
    browser.find_element(By.CSS_SELECTOR, "form[action='/program/rules/earning'] button[type=submit]").click()
    WebDriverWait(browser, 10).until(lambda d: "must be >= 1" in main_text())
    assert ho_store.rules() == {}

    browser.find_element(By.NAME, "earning-0-unit_cents").clear()
    browser.find_element(By.NAME, "earning-0-unit_cents").send_keys("100")
    browser.find_element(By.NAME, "earning-0-points_per_unit").send_keys("2")
    browser.find_element(By.ID, "earning-reason").send_keys("double points month")
    browser.find_element(By.CSS_SELECTOR, "form[action='/program/rules/earning'] button[type=submit]").click()
    WebDriverWait(browser, 10).until(lambda d: "“earning” published" in main_text())

    browser.find_element(By.NAME, "offers-0-id").send_keys("welcome")
    Select(browser.find_element(By.NAME, "offers-0-trigger")).select_by_visible_text("first_purchase")
    Select(browser.find_element(By.NAME, "offers-0-reward")).select_by_visible_text("amount_off")
    browser.find_element(By.NAME, "offers-0-value").send_keys("500")
    browser.find_element(By.NAME, "offers-0-holdout_pct").send_keys("20")
    browser.find_element(By.ID, "offers-reason").send_keys("welcome test, 20 % held out")
    browser.find_element(By.CSS_SELECTOR, "form[action='/program/rules/offers'] button[type=submit]").click()
    WebDriverWait(browser, 10).until(lambda d: "“offers” published" in main_text())
    assert ho_store.rules() == {"earning": {"points_per_unit": 2, "unit_cents": 100},
                                "offers": [{"id": "welcome", "trigger": "first_purchase", "reward": "amount_off",
                                            "value": 500, "holdout_pct": 20}]}

    # S1's till says it applied version 2 (as its sync client's X-Till-Program header would)
    ho_store.console.record_contact("S1", "T1", "pull", program_version=2)
    browser.get(served.url + "/program")
    text = main_text()
    assert "Program version v2: 1 of 2 tills current" in text and "double points month" in text
    assert browser.find_element(By.NAME, "offers-0-holdout_pct").get_attribute("value") == "20"
    shot = screenshot(browser, tmp_path / "shots", "program", max_height=6000)
    browser.get(served.url + "/stores")
    assert "v2" in main_text()
    stores = screenshot(browser, tmp_path / "shots", "program-stores", max_height=6000)
    assert shot.stat().st_size > 10_000 and stores.stat().st_size > 10_000
