# mypy: disable-error-code="import-untyped"
"""The widget's pictures in the owner's language: the annotations of widget/pictures/*.svg are
content (data/content/pictures.yml and its translations), laid into the drawing when it is served;
what reproduces the recorder's screen or its printed label stays as the firmware shows it. Each
label fits its drawing in every language, measured in Debian's Chromium."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright

from bot.localisation import LANGUAGES
from bot.web.pictures import (
    PICTURES_DIR,
    SVG,
    label_mismatches,
    localised_picture,
    localised_svg,
    picture_labels,
)

CHROMIUM = Path("/usr/bin/chromium")
ASYNC = pytest.mark.asyncio(loop_scope="module")


def texts(svg: bytes) -> list[tuple[str | None, str]]:
    """Every <text> of a drawing: its label key (None: not an annotation) and what it reads, each
    line (<tspan>) on a line of its own."""
    root = ET.fromstring(svg)
    found = []
    for node in root.iter(f"{{{SVG}}}text"):
        lines = [span.text or "" for span in node.iter(f"{{{SVG}}}tspan")]
        found.append((node.get("data-label"), "\n".join(lines) if lines else node.text or ""))
    return found


def test_every_annotation_is_in_the_english_content_and_nothing_else() -> None:
    assert label_mismatches() == []
    labelled = {
        path.stem for path in PICTURES_DIR.glob("*.svg")
        if any(key for key, _ in texts(path.read_bytes()))
    }  # fmt: skip
    assert labelled == {"connect-monitor-mouse", "label", "login", "user-list"}


def test_the_check_finds_a_label_the_content_lacks_or_words_differently(tmp_path: Path) -> None:
    for path in PICTURES_DIR.glob("*.svg"):
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "login.svg").write_bytes(
        (PICTURES_DIR / "login.svg")
        .read_bytes()
        .replace(b">temporary password<", b">temporary code<")
        .replace(b'fill="#fff">Login</text>', b'fill="#fff" data-label="title">Login</text>')
    )
    (tmp_path / "label.svg").unlink()
    assert label_mismatches(tmp_path) == [
        "login.svg: 'title' is not in data/content/pictures.yml",
        "login.svg: 'temporary-password' reads 'temporary code', "
        "data/content/pictures.yml 'temporary password'",
        "data/content/pictures.yml: there is no picture 'label'",
    ]


@pytest.mark.parametrize("language", ["es", "fr"])
def test_only_the_annotations_are_translated(language: str) -> None:
    for name in picture_labels("en"):
        english = texts((PICTURES_DIR / f"{name}.svg").read_bytes())
        served = texts(localised_picture(name, language))
        assert [key for key, _ in served] == [key for key, _ in english]
        for (key, before), (_, after) in zip(english, served, strict=True):
            if key is None:
                assert after == before, (name, before)  # the recorder's own words
            else:
                assert after == picture_labels(language)[name][key], (name, key)
        assert served != english, name  # ("Monitor" is Spanish too, but not every label)


def test_a_label_is_escaped_and_may_take_two_lines_centred_where_the_one_was() -> None:
    english = (PICTURES_DIR / "user-list.svg").read_bytes()
    served = localised_svg(english, {"pencil": 'Cliquez <b>ici</b> & "là"\nsur le crayon'})
    [node] = [n for n in ET.fromstring(served).iter(f"{{{SVG}}}text") if n.get("data-label")]
    assert [span.text for span in node] == ['Cliquez <b>ici</b> & "là"', "sur le crayon"]
    assert b"<b>" not in served and b"&lt;b&gt;" in served
    assert [span.get("dy") for span in node] == ["0", "14.4"]  # 1.2 em of font-size 12
    assert float(node.get("y", "")) == 170 - 7.2
    assert localised_svg(english, {}) == english  # nothing to translate: the file as it is


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"Debian's Chromium is missing at {CHROMIUM}: `make test` installs it")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        yield browser
        await browser.close()


@ASYNC
@pytest.mark.parametrize("language", LANGUAGES)
async def test_every_label_fits_its_drawing(browser: Browser, language: str) -> None:
    """Each annotation, as Chromium lays it out, stays inside the drawing with a margin."""
    page = await browser.new_page()
    for name in picture_labels(language):
        svg = localised_picture(name, language).decode()
        await page.set_content(f"<!doctype html><body style='margin:0'>{svg}</body>")
        boxes = await page.evaluate(
            """() => [...document.querySelectorAll('text[data-label]')].map(node => {
                 const box = node.getBBox();
                 return [node.dataset.label, box.x, box.y, box.x + box.width, box.y + box.height];
               })"""
        )
        for key, left, top, right, bottom in boxes:
            inside = left >= 3 and top >= 2 and right <= 317 and bottom <= 199
            assert inside, (name, key, language, (left, top, right, bottom))
    await page.close()
