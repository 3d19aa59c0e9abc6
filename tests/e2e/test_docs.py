"""/docs in a real headless Chromium (tests/browser.py), driven as a user would: Swagger UI's
"Try it out" sends a photo to POST /image_prediction and gets 202 (its optional `webhook` left
out, not sent as "string"), then reads the prediction back; on a stack with API keys, the page
asks for a key, and Authorize is what puts it on each request."""

from __future__ import annotations

import json

from dogdetect.domain.limits import MAX_WAIT_SECONDS
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from local.launcher import RunningStack
from tests.browser import (
    console_errors,
    foreign,
    requested_urls,
)
from tests.conftest import SECURITY_KEYS
from tests.photos import SHARED_IMAGES

DOG_PHOTO = SHARED_IMAGES / "dog.jpg"
# Swagger UI's id of an operation's block: operations-<tag>-<operationId>.
SUBMIT = "operations-predictions-create_prediction_image_prediction_post"
READ = "operations-predictions-read_prediction_image_prediction__image_prediction_id__get"
UPLOAD = "operations-uploads-create_direct_upload_image_prediction_uploads_post"
HEALTH = "operations-health-health_health_get"
LOGOUT = ".//button[normalize-space()='Logout']"  # shown once a key is authorized
WAIT = 60  # seconds: Swagger UI renders, the stack answers (the model's first run included)


def _until(driver: webdriver.Chrome, css: str, within: WebElement | None = None) -> WebElement:
    scope = within or driver

    def found(_: webdriver.Chrome) -> WebElement | bool:
        shown = [e for e in scope.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()]
        return shown[0] if shown else False

    element: WebElement = WebDriverWait(driver, WAIT, poll_frequency=0.2).until(found)
    return element


def _open(driver: webdriver.Chrome, operation: str) -> WebElement:
    """The operation's block, opened, in "Try it out" mode."""
    block = _until(driver, f"#{operation}")
    if not block.find_elements(By.CSS_SELECTOR, ".opblock-body"):
        block.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    if not block.find_elements(By.CSS_SELECTOR, "button.execute"):
        _until(driver, ".try-out__btn", block).click()  # "Try it out" (then "Cancel")
    _until(driver, "button.execute", block)
    return block


def _execute(driver: webdriver.Chrome, block: WebElement) -> tuple[int, str]:
    """Execute's answer as Swagger UI shows it: its status and body."""
    for old in block.find_elements(By.CSS_SELECTOR, ".btn-clear"):
        old.click()  # a previous answer, cleared: the one read is this request's
    block.find_element(By.CSS_SELECTOR, "button.execute").click()
    status = _until(driver, ".live-responses-table tr.response .response-col_status", block)
    code = ".live-responses-table .highlight-code pre"

    def body(_: webdriver.Chrome) -> str:
        shown = block.find_elements(By.CSS_SELECTOR, code)
        return (shown[0].get_attribute("textContent") or "") if shown else ""

    return int(status.text.strip()), WebDriverWait(driver, WAIT).until(body)


def _authorize(driver: webdriver.Chrome, key: str | None) -> None:
    """Swagger UI's Authorize dialog: log out of what is set, then log in with `key`."""
    _until(driver, ".auth-wrapper .authorize").click()
    dialog = _until(driver, ".modal-ux")
    for logout in dialog.find_elements(By.XPATH, LOGOUT):
        logout.click()
    if key is not None:
        dialog.find_element(By.CSS_SELECTOR, ".auth-container input").send_keys(key)
        dialog.find_element(By.CSS_SELECTOR, "button.authorize").click()
        WebDriverWait(driver, WAIT).until(lambda _: dialog.find_elements(By.XPATH, LOGOUT))
    dialog.find_element(By.CSS_SELECTOR, ".close-modal").click()


def _submit_and_read(driver: webdriver.Chrome) -> dict[str, object]:
    """POST /image_prediction with the photo, through Try it out, then GET it back."""
    submit = _open(driver, SUBMIT)
    webhook = submit.find_element(By.CSS_SELECTOR, "tr[data-property-name='webhook'] input")
    assert webhook.get_attribute("value") == ""  # left empty: not sent
    photo = submit.find_element(By.CSS_SELECTOR, "tr[data-property-name='image'] input")
    photo.send_keys(str(DOG_PHOTO))
    status, body = _execute(driver, submit)
    assert status == 202, body
    accepted = json.loads(body)
    assert accepted["status"] == "PENDING"

    read = _open(driver, READ)
    read.find_element(By.CSS_SELECTOR, "tr[data-param-name='image_prediction_id'] input").send_keys(
        accepted["image_prediction_id"]
    )
    prefer = read.find_element(By.CSS_SELECTOR, "tr[data-param-name='prefer'] input")
    assert prefer.get_attribute("value") == f"wait={MAX_WAIT_SECONDS}"  # its example, sent
    status, body = _execute(driver, read)
    assert status == 200, body
    prediction: dict[str, object] = json.loads(body)
    assert prediction["image_prediction_id"] == accepted["image_prediction_id"]
    return prediction


def test_try_it_out_sends_a_photo_and_reads_its_prediction(
    stack: RunningStack, browser: webdriver.Chrome
) -> None:
    browser.get(f"{stack.api_url}/docs")
    assert not browser.find_element(By.ID, "key-form").is_displayed()  # no keys: not asked
    status, body = _execute(browser, _open(browser, HEALTH))
    assert status == 200 and json.loads(body)["status"] == "ok"
    prediction = _submit_and_read(browser)
    # Prefer: wait=20 (its example) was sent: the answer waited for the model.
    assert prediction["status"] == "DONE" and prediction["has_dog"] is True
    status, body = _execute(browser, _open(browser, UPLOAD))  # its webhook left out too
    assert status == 201, body
    assert set(json.loads(body)) == {"image_prediction_id", "upload", "expires_at", "options"}
    assert foreign(requested_urls(browser)) == []
    assert console_errors(browser) == []


def test_with_keys_the_page_asks_for_one_and_authorize_sends_it(
    keyed_stack: RunningStack, browser: webdriver.Chrome
) -> None:
    browser.get(f"{keyed_stack.api_url}/docs")
    key_input = _until(browser, "#api-key")  # the description needs a key: the page asks
    key_input.send_keys("not-a-key\n")
    problem = _until(browser, "#key-problem")
    assert "refused" in problem.text
    key_input.clear()
    key_input.send_keys(f"{SECURITY_KEYS[0]}\n")

    _until(browser, f"#{SUBMIT}")  # the description loaded with the key
    # Authorize holds the key typed: Try it out sends it.
    assert (
        _until(browser, ".auth-wrapper .authorize").get_attribute("class").split().count("locked")
    )
    _submit_and_read(browser)

    _authorize(browser, None)  # logged out: the same request is refused
    status, body = _execute(browser, _open(browser, READ))
    assert status == 401, body
    _authorize(browser, SECURITY_KEYS[1])  # another key, through the dialog
    status, body = _execute(browser, _open(browser, READ))
    assert status == 200, body
    # 401s are this test's own; nothing else failed.
    assert [e for e in console_errors(browser) if " 401 " not in e] == []
