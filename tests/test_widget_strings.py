"""The web chat widget's own words (STRINGS in widget/widget.js): every language the assistant
speaks, each with every English string and the same {placeholders}. Node reads the object as the
browser does."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.localisation import ENGLISH, LANGUAGES

WIDGET = Path(__file__).resolve().parent.parent / "widget" / "widget.js"
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# Words only some languages need: the photo reader's refusals, where English shows the server's.
OWN_ONLY = re.compile(r"^photoError:")


def widget_strings() -> dict[str, dict[str, str]]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is missing: apt-get install nodejs (the browser tests need npm too)")
    source = WIDGET.read_text(encoding="utf-8")
    start = source.index("var STRINGS = {") + len("var STRINGS = ")
    end = source.index("\n  };\n", start) + len("\n  }")
    read = subprocess.run(
        [node, "-e", f"process.stdout.write(JSON.stringify({source[start:end]}))"],
        capture_output=True, text=True, check=True, timeout=30,
    )
    strings: dict[str, dict[str, str]] = json.loads(read.stdout)
    return strings


def test_the_widget_speaks_every_language_with_every_string() -> None:
    strings = widget_strings()
    assert sorted(strings) == sorted(LANGUAGES)
    english = strings[ENGLISH]
    for language, words in strings.items():
        assert not set(english) - set(words), language
        assert all(OWN_ONLY.match(key) for key in set(words) - set(english)), language
        for key, text in words.items():
            assert isinstance(text, str) and text.strip(), (language, key)
            if key in english:
                assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(english[key])), (
                    language, key,
                )
            if language != ENGLISH and key in english and len(english[key]) > 12:
                assert text != english[key], f"{language} {key} is still English"
    assert set(strings["es"]) == set(strings["fr"])
