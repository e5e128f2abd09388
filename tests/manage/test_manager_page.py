"""The manager page in a real browser (Playwright driving Debian's Chromium)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.integration.harness import save_atomically
from tests.manage.conftest import TOKEN, Managed, start_managed
from tests.support.browser import chromium

# a context path and an error message that carry HTML: the page must show them as text
EVIL_PATH = '/x<img src=y onerror="window.pwned=1">'
EVIL_VALUE = "<script>window.pwned=2</script>"
EVIL = f"""<?xml version="1.0"?>
<Configure class="org.eclipse.jetty.webapp.WebAppContext">
  <Set name="contextPath">{EVIL_PATH.replace("<", "&lt;").replace('"', "&quot;")}</Set>
  <Set name="war">../apps/site</Set>
</Configure>
"""
EVIL_ERROR = f"""<?xml version="1.0"?>
<Configure class="org.eclipse.jetty.webapp.WebAppContext">
  <Set name="contextPath">/err</Set>
  <Set name="displayName"><![CDATA[{EVIL_VALUE}]]></Set>
  <Set name="workers"><![CDATA[{EVIL_VALUE}]]></Set>
</Configure>
"""


@pytest.fixture
def page_of(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Managed, object]]:
    """The page under its own Content-Security-Policy, unless the test is marked to bypass it
    (to test the escaping alone, without the CSP that would also stop a script)."""
    bypass = request.node.get_closest_marker("bypass_csp") is not None
    for managed in start_managed(tmp_path, "--manager-token", TOKEN):
        with chromium() as browser:
            page = browser.new_context(bypass_csp=bypass).new_page()
            page.set_default_timeout(20_000)
            expect.set_options(timeout=20_000)
            yield managed, page


def test_the_page_shows_every_context_and_redeploys_one(page_of) -> None:
    managed, page = page_of
    page.goto(managed.manager + "/")
    rows = page.locator("tr.context")
    assert rows.count() == 2
    counter = page.locator('tr.context[data-id="counter.xml"]')
    assert counter.locator(".state").inner_text() == "deployed"
    assert counter.locator(".version").inner_text() == "1"
    assert "pid " in counter.locator(".workers").inner_text()
    assert page.locator('tr.context[data-id="site.xml"] .state').inner_text() == "deployed"
    assert page.locator("#summary").inner_text() == "2 of 2 contexts deployed"

    page.fill("#token", TOKEN)
    page.locator("#token").dispatch_event("change")
    counter.locator('button[data-action="redeploy"]').click()
    expect(counter.locator(".version")).to_have_text("2")  # the page's script ran, under its CSP
    expect(page.locator("#msg")).to_have_text("redeploy counter.xml: deployed v2")

    # without the token the page shows the refusal and nothing changes
    page.fill("#token", "")
    page.locator("#token").dispatch_event("change")
    page.locator('tr.context[data-id="site.xml"] button[data-action="stop"]').click()
    expect(page.locator("#msg")).to_contain_text("401")
    assert managed.row("site.xml")["state"] == "deployed"


def test_a_broken_descriptor_shows_its_error_with_its_line(page_of) -> None:
    managed, page = page_of
    page.goto(managed.manager + "/")
    (managed.contexts / "broken.xml").write_text(
        '<Configure class="org.eclipse.jetty.webapp.WebAppContext">\n'
        '  <Set name="contextPath">/broken</Set>\n'
        '  <Set name="war">../apps/site</Set\n'
        "</Configure>\n")
    # the page reloads its rows on its own
    error = page.locator('tr.error[data-id="broken.xml"] pre')
    error.wait_for()
    assert f"{managed.contexts / 'broken.xml'}:4:1: not well-formed XML" in error.inner_text()
    assert page.locator('tr.context[data-id="broken.xml"] .state').inner_text().startswith(
        "failed")
    assert page.locator("#summary").inner_text() == "2 of 3 contexts deployed"


@pytest.mark.bypass_csp
def test_html_in_a_context_path_or_an_error_is_shown_as_text(page_of) -> None:
    managed, page = page_of
    save_atomically(managed.contexts / "evil.xml", EVIL)
    save_atomically(managed.contexts / "evilerr.xml", EVIL_ERROR)
    page.goto(managed.manager + "/")
    page.locator('tr.context[data-id="evil.xml"]').wait_for()
    page.locator('tr.error[data-id="evilerr.xml"]').wait_for()
    page.reload()
    path_cell = page.locator('tr.context[data-id="evil.xml"] .path')
    assert path_cell.inner_text() == EVIL_PATH
    assert EVIL_VALUE in page.locator('tr.error[data-id="evilerr.xml"] pre').inner_text()
    assert page.locator("tbody img, tbody script").count() == 0
    assert page.evaluate("window.pwned") is None
    page.wait_for_timeout(2500)  # past one automatic reload of the rows: still text
    assert page.locator("tbody img, tbody script").count() == 0
    assert page.evaluate("window.pwned") is None


def test_the_page_lists_a_contexts_sessions_and_invalidates_one(page_of) -> None:
    managed, page = page_of
    shopper = httpx.Client(base_url=managed.url)
    assert shopper.get("/counter/").text.endswith(" 1")
    sid = shopper.cookies["JSESSIONID"]
    page.goto(managed.manager + "/")
    page.fill("#token", TOKEN)
    page.locator("#token").dispatch_event("change")
    page.locator('tr.context[data-id="counter.xml"] button[data-action="sessions"]').click()
    line = page.locator("#sessions .session")
    expect(line).to_have_count(1)
    expect(line).to_contain_text(f"{sid} · last access ")
    expect(line).to_contain_text("count")
    line.locator("button").click()
    expect(page.locator("#msg")).to_have_text(f"invalidated {sid}")
    expect(line).to_have_count(0)
    assert shopper.get("/counter/").text.endswith(" 1")  # a new session: the old one ended
    assert shopper.cookies["JSESSIONID"] != sid
