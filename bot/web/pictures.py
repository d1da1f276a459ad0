"""The web widget's pictures with their annotations in the owner's language.

The drawings (``widget/pictures/<name>.svg``) are made in English. Each annotation in them is a
``<text data-label="key">``; ``data/content/pictures.yml`` repeats their English words by picture
and key, and ``data/content/<language>/pictures.yml`` translates them (an overlay, checked with the
other content by :func:`bot.localisation.missing_translations`). :func:`localised_picture` lays a
language's words into the drawing: only the marked elements' text changes, so what reproduces the
recorder's screen or its printed label (menu names, Device ID, S/N, OK) stays as the firmware and
the label show it, in English. A label with a line break is drawn on several lines, centred on
where the one line is.

The drawings are the product's own files, parsed with the standard library's expat (which neither
fetches external entities nor expands nested ones without bound); the words are set as text, so
the serialiser escapes them.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path

from bot.content import CONTENT_DIR, REPO_ROOT, load_mapping
from bot.localisation import load_localised

PICTURES_DIR = REPO_ROOT / "widget" / "pictures"
CONTENT_FILE = "pictures.yml"
SVG = "http://www.w3.org/2000/svg"
LABEL = "data-label"
LINE_HEIGHT = 1.2  # em, between the lines of a label of several lines

# SVG's elements are written without a prefix (ElementTree's registry is process-wide; this
# mapping is the usual one).
ET.register_namespace("", SVG)


def picture_labels(language: str) -> dict[str, dict[str, str]]:
    """Each picture's annotations in ``language`` (English where it has none), by label key."""
    content = load_localised(CONTENT_FILE, language)
    return {
        str(name): {str(key): str(text) for key, text in labels.items()}
        for name, labels in content.items()
    }


def localised_picture(name: str, language: str, folder: Path = PICTURES_DIR) -> bytes:
    """The drawing ``<folder>/<name>.svg`` with its annotations in ``language``."""
    svg = (folder / f"{name}.svg").read_bytes()
    labels = picture_labels(language).get(name)
    return localised_svg(svg, labels) if labels else svg


def localised_svg(svg: bytes, labels: Mapping[str, str]) -> bytes:
    """``svg`` with the text of each element marked with a key of ``labels`` replaced by it;
    ``svg`` itself when that changes nothing (English, say)."""
    root = ET.fromstring(svg)
    changed = False
    for node in root.iter(f"{{{SVG}}}text"):
        key = node.get(LABEL)
        if key is not None and key in labels and labels[key] != _text(node):
            _write(node, labels[key])
            changed = True
    if not changed:
        return svg
    return ET.tostring(root, encoding="unicode").encode()


def _text(node: ET.Element) -> str:
    spans = list(node.iter(f"{{{SVG}}}tspan"))
    return "\n".join(span.text or "" for span in spans) if spans else node.text or ""


def _write(node: ET.Element, text: str) -> None:
    lines = [line.strip() for line in text.strip().splitlines()] or [""]
    for child in list(node):
        node.remove(child)
    if len(lines) == 1:
        node.text = lines[0]
        return
    node.text = None
    step = float(node.get("font-size", "12")) * LINE_HEIGHT
    node.set("y", _number(float(node.get("y", "0")) - step * (len(lines) - 1) / 2))
    for index, line in enumerate(lines):
        span = ET.SubElement(
            node, f"{{{SVG}}}tspan", {"x": node.get("x", "0"), "dy": _number(step if index else 0)}
        )
        span.text = line


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def label_mismatches(folder: Path = PICTURES_DIR) -> list[str]:
    """Where the drawings in ``folder`` and the English content differ: an annotation the content
    lacks or words otherwise, a picture or a label the content names that no drawing has."""
    english = {
        str(name): {str(key): str(text) for key, text in labels.items()}
        for name, labels in load_mapping(CONTENT_DIR / CONTENT_FILE).items()
    }
    problems = []
    where = f"data/content/{CONTENT_FILE}"
    for path in sorted(folder.glob("*.svg")):
        labels = english.pop(path.stem, {})
        for node in ET.fromstring(path.read_bytes()).iter(f"{{{SVG}}}text"):
            key = node.get(LABEL)
            if key is None:
                continue
            if key not in labels:
                problems.append(f"{path.name}: '{key}' is not in {where}")
            elif labels[key] != _text(node):
                problems.append(
                    f"{path.name}: '{key}' reads '{_text(node)}', {where} '{labels.pop(key)}'"
                )
            else:
                labels.pop(key)
        problems += [f"{where}: {path.stem} '{key}' is in no <text> of {path.name}"
                     for key in labels]  # fmt: skip
    problems += [f"{where}: there is no picture '{name}'" for name in english]
    return problems
