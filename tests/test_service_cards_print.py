"""Service cards on paper and at the door, end to end on the embedded system `make up` runs: a
secretary prints a member's cards from the console; poppler renders the PDF, zbar (an independent
decoder) reads every QR code; each link opens, in headless Chromium on a 360x640 phone, its
household's member now; a report made there, once the reporter typed the code texted to their
phone (the suite's SMS provider is a local stand-in), reaches that member as a task with `channel:
card_qr`, confirmed. The door stickers carry one QR code a page, each opening the doorway of the
household the page names. A household moved to another member: its old card's QR code says the card
was replaced and names the new member, and the cards to reprint are listed and printed. A forged or
cut-short link gets a page in Chinese. `fourlinks cards print` prints the community from the store,
and is timed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import a_photo_with_a_location
from playwright.sync_api import Browser, FilePayload, Page
from tools.console_browser import (
    COMMUNITY,
    Console,
    a_member_with_households,
    eventually_true,
    fits_the_screen,
    on_a_phone,
    sign_in,
)

DOCS = Path(__file__).resolve().parents[1] / "docs" / "console"
SHOOTING = bool(os.environ.get("FOURLINKS_DOCS_SCREENSHOTS"))
"""Refresh the screenshots docs/console.md shows (as the console walk does), only when asked."""
LINK = re.compile(r"/d/([A-Za-z0-9_-]{63})$")
REPORTER_PHONE = "13600136000"

pytestmark = [
    pytest.mark.timeout(900),
    pytest.mark.skipif(
        not (shutil.which("pdftoppm") and shutil.which("zbarimg") and shutil.which("pdffonts")),
        reason="poppler-utils and zbar-tools are missing: `make test` installs them (make print-tools)",
    ),
]


def rendered_links(pdf: bytes, folder: Path, *, dpi: int = 150) -> list[str]:
    """Every QR code on every page of the PDF, as zbar reads it from poppler's rendering."""
    return [link for page in links_by_page(pdf, folder, dpi=dpi) for link in page]


def links_by_page(pdf: bytes, folder: Path, *, dpi: int = 150) -> list[list[str]]:
    """The QR codes of each page of the PDF, in page order, as zbar reads them from poppler's rendering."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cards.pdf").write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", str(dpi), "-png", str(folder / "cards.pdf"), str(folder / "page")], check=True
    )
    found: list[list[str]] = []
    for page in sorted(folder.glob("page-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1])):
        read = subprocess.run(
            ["zbarimg", "-q", "--raw", str(page)], capture_output=True, text=True, check=False
        )
        found.append([line for line in read.stdout.splitlines() if line])
    return found


def page_text(pdf: Path, number: int) -> str:
    """What page `number` (from 1) says, as poppler extracts it, without white space."""
    said = subprocess.run(
        ["pdftotext", "-f", str(number), "-l", str(number), str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    return re.sub(r"\s", "", said.stdout)


def embedded_fonts(pdf: Path) -> list[list[str]]:
    """pdffonts' table: each font's name, type, and whether it is embedded and subset."""
    listed = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    return [line.split() for line in listed.splitlines()[2:] if line.strip()]


def download(page: Page, url: str) -> bytes:
    answer = page.request.get(url)
    assert answer.status == 200, answer.text()[:500]
    assert answer.headers["content-type"] == "application/pdf"
    return answer.body()


def door(console: Console, link: str) -> dict[str, Any]:
    answer = httpx.get(f"{console.services['members']}/doorway/{link}", timeout=10)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def test_a_members_printed_cards_open_their_households_doorway_and_a_report_there_becomes_their_task(
    console: Console, browser: Browser, tmp_path: Path
) -> None:
    member = a_member_with_households(console)
    staff = console.token("secretary", COMMUNITY)
    mine = {
        h["household_id"] for h in console.api("members", f"/members/{member}/dashboard", staff)["households"]
    }
    desk = browser.new_context(locale="zh-CN").new_page()
    sign_in(desk, console, f"secretary:{COMMUNITY}")
    desk.goto(f"{console.url}/members/{member}")
    printing = desk.locator("p.print-cards a").first
    assert desk.locator("p.print-cards").inner_text().startswith("打印服务卡")
    pdf = download(desk, console.url + str(printing.get_attribute("href")))

    links = rendered_links(pdf, tmp_path / "sheet")
    assert links, "no QR code was read from the printed cards"
    assert all(link.startswith(console.url + "/d/") and LINK.search(link) for link in links), links
    opened = [door(console, str(LINK.search(link)[1])) for link in links]  # type: ignore[index]
    assert {d["contact_id"] for d in opened if d["contact_kind"] == "household"} == mine
    fonts = embedded_fonts(tmp_path / "sheet" / "cards.pdf")
    assert fonts
    assert all(row[-5:-3] == ["yes", "yes"] for row in fonts), fonts  # embedded, subset
    if SHOOTING:
        shutil.copy(sorted((tmp_path / "sheet").glob("page-*.png"))[0], DOCS / "service-cards-sheet.png")

    phone, watch = on_a_phone(browser, console)
    for link in links:
        phone.goto(link)
        assert phone.locator(".doorway-member").get_attribute("data-member") == member
        assert phone.locator(".replaced").count() == 0
        assert fits_the_screen(phone)
    household_link = next(
        link for link, d in zip(links, opened, strict=True) if d["contact_kind"] == "household"
    )
    phone.goto(household_link)
    if SHOOTING:
        phone.screenshot(path=str(DOCS / "doorway-phone.png"), full_page=True, mask=[phone.locator(".pd")])
    before = console.api(
        "assignments", f"/members/{member}/tasks", console.token("member", COMMUNITY, member)
    )
    phone.locator("#door-phone").fill(REPORTER_PHONE)  # the suite's SMS provider is configured
    phone.get_by_role("button", name="发送验证码", exact=True).tap()
    phone.wait_for_url(re.compile(r"sent="))
    phone.locator("#door-code").fill(texted_code(console, REPORTER_PHONE))
    phone.locator("#door-category").select_option("repairs")
    phone.locator("#door-description").fill("楼道灯不亮，晚上看不清台阶")
    chosen: FilePayload = {
        "name": "stairs.jpg",
        "mimeType": "image/jpeg",
        "buffer": a_photo_with_a_location(),
    }
    phone.locator("#door-photos").set_input_files(files=[chosen])
    phone.locator("input[name=call_back]").check()
    phone.get_by_role("button", name="提交", exact=True).tap()
    phone.wait_for_url(re.compile(r"reference="))
    reference = phone.locator(".receipt .reference").inner_text()
    assert re.fullmatch(r"FL-\d{8}-[A-Z2-7]{8}", reference)
    phone.context.close()
    assert not watch.errors, watch.errors

    items = console.api("feedback", "/feedback", staff, unit=COMMUNITY, limit=200)["items"]
    [item] = [i for i in items if i["reference"] == reference]
    assert (item["channel"], item["unconfirmed"], item["call_back"]) == ("card_qr", False, True)
    assert item["member_id"] == member
    assert len(item["photos"]) == 1
    as_member = console.token("member", COMMUNITY, member)
    eventually_true(
        lambda: console.api("assignments", f"/members/{member}/tasks", as_member)["total"] > before["total"],
        "the report from the card did not become the member's task",
    )
    desk.context.close()


def test_a_members_door_stickers_carry_one_qr_code_a_page_opening_that_pages_households_doorway(
    console: Console, browser: Browser, tmp_path: Path
) -> None:
    member = a_member_with_households(console)
    staff = console.token("secretary", COMMUNITY)
    board = console.api("members", f"/members/{member}/dashboard", staff)
    desk = browser.new_context(locale="zh-CN").new_page()
    sign_in(desk, console, f"secretary:{COMMUNITY}")
    desk.goto(f"{console.url}/members/{member}")
    stickers = desk.locator("p.print-cards a").nth(1)
    assert stickers.inner_text() == "门贴版"
    pdf = download(desk, console.url + str(stickers.get_attribute("href")))
    desk.context.close()

    pages = links_by_page(pdf, tmp_path / "stickers")
    assert len(pages) == 1 + len(board["households"]) + len(board["enterprises"])
    assert pages[0] == []  # the member's own copy opens no household's doorway
    assert all(len(found) == 1 for found in pages[1:]), pages
    households: set[str] = set()
    for number, [link] in enumerate(pages[1:], start=2):
        assert link.startswith(console.url + "/d/"), link
        token = LINK.search(link)
        assert token, link
        opened = door(console, token[1])
        assert (opened["replaced"], opened["member"]["member_id"]) == (False, member)
        if opened["contact_kind"] == "household":
            households.add(opened["contact_id"])
            place = opened["place"]
            assert f"{place['room']}室" in page_text(tmp_path / "stickers" / "cards.pdf", number), number
    assert households == {h["household_id"] for h in board["households"]}


def test_a_household_moved_to_another_member_sees_its_old_card_replaced_and_its_card_is_reprinted(
    console: Console, browser: Browser, tmp_path: Path
) -> None:
    staff = console.token("secretary", COMMUNITY)
    leaving = a_member_with_households(console)
    theirs = console.api("members", f"/members/{leaving}/dashboard", staff)
    moved = theirs["households"][0]["household_id"]
    [old_card] = console.api("members", "/cards/print", staff, unit=COMMUNITY, member=leaving)
    old_link = next(c["link"] for c in old_card["contacts"] if c["contact_id"] == moved)
    taking = _a_member_with_room(console, staff, besides=leaving)
    _revise(console, staff, leaving, drop=moved)
    _revise(console, staff, taking, add=moved)

    phone, watch = on_a_phone(browser, console)
    phone.goto(f"{console.url}/d/{old_link}")
    assert phone.locator(".replaced").inner_text().startswith("此服务卡已更换")
    assert phone.locator(".doorway-member").get_attribute("data-member") == taking
    assert phone.locator("form[action$='/report']").count() == 0  # a replaced card takes no reports
    if SHOOTING:
        phone.screenshot(
            path=str(DOCS / "doorway-replaced-phone.png"), full_page=True, mask=[phone.locator(".pd")]
        )

    for wrong in (old_link[:40], old_link[:-3] + ("AAA" if not old_link.endswith("AAA") else "BBB")):
        refused = phone.goto(f"{console.url}/d/{wrong}")
        assert refused is not None
        assert refused.status in (400, 404)
        assert refused.headers["content-type"].startswith("text/html")
        assert phone.locator("h1").inner_text() == "这不是有效的服务卡链接"
    phone.context.close()
    assert not [e for e in watch.errors if "404" not in e and "400" not in e], watch.errors

    desk = browser.new_context(locale="zh-CN").new_page()
    sign_in(desk, console, f"secretary:{COMMUNITY}")
    desk.goto(f"{console.url}/cards/reprint?unit={COMMUNITY}")
    listed = {row.get_attribute("data-card") for row in desk.locator("table.reprint tbody tr").all()}
    assert old_card["card_id"] in listed
    assert len(listed) >= 2  # the two cards revised
    pdf = download(desk, console.url + str(desk.locator("a.print-cards").first.get_attribute("href")))
    printed = {str(LINK.search(link)[1]) for link in rendered_links(pdf, tmp_path / "reprint")}  # type: ignore[index]
    [new_card] = console.api("members", "/cards/print", staff, unit=COMMUNITY, member=taking)
    new_link = next(c["link"] for c in new_card["contacts"] if c["contact_id"] == moved)
    assert new_link in printed
    assert old_link not in printed
    fresh = door(console, new_link)
    assert (fresh["replaced"], fresh["member"]["member_id"]) == (False, taking)
    desk.context.close()


def test_the_cli_prints_a_communitys_cards_from_the_store(console: Console, tmp_path: Path) -> None:
    out = tmp_path / "community.pdf"
    env = {**os.environ, "FOURLINKS_VAR_DIR": str(console.var_dir)}
    command = [
        sys.executable,
        "-m",
        "fourlinks_cli",
        "cards",
        "print",
        "--unit",
        COMMUNITY,
        "--out",
        str(out),
    ]
    command += ["--console-url", console.url]
    started = time.perf_counter()
    printed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    assert printed.returncode == 0, printed.stderr
    said = re.search(r"(\d+) cards, (\d+) copies on (\d+) pages", printed.stdout)
    assert said is not None, printed.stdout
    cards, copies, pages = (int(n) for n in said.groups())
    assert cards >= 50
    assert pages == -(-copies // 8)
    assert seconds < 60, f"printing the community took {seconds:.1f} s"
    subprocess.run(
        ["pdftoppm", "-r", "150", "-png", "-f", "1", "-l", "1", str(out), str(tmp_path / "p")], check=True
    )
    [first] = tmp_path.glob("p-*.png")
    read = subprocess.run(["zbarimg", "-q", "--raw", str(first)], capture_output=True, text=True, check=True)
    links = read.stdout.split()
    assert len(links) >= 6  # the first member's own copy carries none
    assert door(console, str(LINK.search(links[0])[1]))["replaced"] is False  # type: ignore[index]
    sys.stderr.write(
        f"\ncommunity {COMMUNITY}: {cards} cards, {copies} copies, {pages} pages, {seconds:.1f} s\n"
    )


def texted_code(console: Console, phone: str) -> str:
    """The code of the last text the SMS provider's stand-in took for this phone."""
    [*_, last] = [m for m in console.sms.taken if m["PhoneNumbers"] == phone]
    found = re.search(r"\b(\d{6})\b", json.loads(last["TemplateParam"])["content"])
    assert found, last
    return found[1]


def _a_member_with_room(console: Console, staff: str, *, besides: str) -> str:
    for item in console.api("members", "/members", staff, unit=COMMUNITY, limit=100)["items"]:
        if item["member_id"] != besides and item["card_id"] and item["contact_count"] < item["capacity"]:
            return str(item["member_id"])
    raise AssertionError("no member of the community has room for one more household")


def _revise(console: Console, staff: str, member: str, *, drop: str = "", add: str = "") -> None:
    card = console.api("members", f"/members/{member}/dashboard", staff)
    homes = [h["household_id"] for h in card["households"] if h["household_id"] != drop] + (
        [add] if add else []
    )
    body = {
        "households": homes,
        "enterprises": [e["enterprise_id"] for e in card["enterprises"]],
        "service_matters": [m["code"] for m in card["card"]["service_matters"]],
        "reason": "住户调整联系党员",
    }
    answer = httpx.put(
        f"{console.services['members']}/members/{member}/card",
        json=body,
        headers={"Authorization": f"Bearer {staff}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    position = answer.json()["position"]
    httpx.get(
        f"{console.services['members']}/members/{member}",
        headers={"Authorization": f"Bearer {staff}", "X-Min-Position": str(position)},
        timeout=30,
    )
