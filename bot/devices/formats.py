"""Device ID formats per product family, loaded from ``data/content/device_id_formats.yml``.

Lorex does not publish the Device ID format, so the formats are data, not code: support can
correct a pattern without a release. Everything here is validated at load time so that a typo in
the YAML stops start-up with ``file:line: ...`` instead of mis-checking a customer's ID later.

Pattern alphabet: ``A`` is a letter A-Z, ``9`` is a digit 0-9.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bot.content import CONTENT_DIR, ContentError, ContentMapping, load_mapping

DEFAULT_FORMATS_PATH = CONTENT_DIR / "device_id_formats.yml"

LETTER = "A"
DIGIT = "9"
PATTERN_ALPHABET = frozenset(LETTER + DIGIT)


class UnknownModelError(KeyError):
    """A model number that no family in the formats file lists."""

    def __init__(self, model: str, known: tuple[str, ...]) -> None:
        super().__init__(model)
        self.model = model
        self.known = known

    def __str__(self) -> str:
        # KeyError's own __str__ would print only the repr of the key.
        return f"unknown recorder model {self.model!r}; known models: {', '.join(self.known)}"


class UnknownFamilyError(KeyError):
    """A family name that the formats file does not define."""

    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        super().__init__(name)
        self.name = name
        self.known = known

    def __str__(self) -> str:
        return f"unknown product family {self.name!r}; known families: {', '.join(self.known)}"


def matches_pattern(value: str, pattern: str) -> bool:
    """Whether ``value`` (already compact and upper case) fits ``pattern`` exactly."""
    if len(value) != len(pattern):
        return False
    for char, wanted in zip(value, pattern, strict=True):
        if wanted == LETTER and not ("A" <= char <= "Z"):
            return False
        if wanted == DIGIT and not ("0" <= char <= "9"):
            return False
    return True


@dataclass(frozen=True)
class Family:
    """A product family: the models in it, where its password reset goes, its Device ID shape."""

    name: str
    label: str
    models: tuple[str, ...]
    route: str
    pattern: str
    groups: tuple[int, ...]
    example: str

    def group(self, device_id: str) -> str:
        """``device_id`` chunked for reading back, e.g. ``ND48 1027 3945 KXQ``."""
        chunks = []
        position = 0
        for size in self.groups:
            chunks.append(device_id[position : position + size])
            position += size
        if position < len(device_id):
            chunks.append(device_id[position:])
        return " ".join(chunk for chunk in chunks if chunk)


@dataclass(frozen=True)
class DeviceIdFormats:
    families: tuple[Family, ...]
    serial_pattern: str
    serial_example: str
    # Look-alike tables: a letter typed where the pattern wants a digit, and vice versa.
    to_digit: dict[str, str]
    to_letter: dict[str, str]
    max_attempts: int
    # Extraction of attempts that fit no pattern (see the `extraction` section of the file).
    min_candidate_length: int = 6
    not_id_words: tuple[str, ...] = ()

    def __hash__(self) -> int:
        # dicts are unhashable; the families tuple identifies a formats file well enough, and
        # hashing lets callers cache per-formats work (e.g. a compiled extractor).
        return hash((self.families, self.serial_pattern, self.max_attempts))

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(model for family in self.families for model in family.models)

    @property
    def longest_letter_run(self) -> int:
        """The most letters in a row that any Device ID or serial-number pattern has."""
        all_patterns = (*self.patterns, self.serial_pattern)
        return max(len(run) for p in all_patterns for run in p.split(DIGIT))

    @property
    def patterns(self) -> tuple[str, ...]:
        """The distinct Device ID patterns, in file order."""
        return tuple(dict.fromkeys(family.pattern for family in self.families))

    def family_for_model(self, model: str) -> Family:
        wanted = model.strip().upper()
        for family in self.families:
            if wanted in family.models:
                return family
        raise UnknownModelError(model, self.models)

    def family(self, name: str) -> Family:
        for family in self.families:
            if family.name == name:
                return family
        raise UnknownFamilyError(name, tuple(f.name for f in self.families))

    def families_for_length(self, length: int) -> tuple[Family, ...]:
        return tuple(f for f in self.families if len(f.pattern) == length)

    def device_id_lengths(self) -> list[int]:
        """The Device ID lengths any family uses, ascending."""
        return sorted({len(family.pattern) for family in self.families})

    def group(self, device_id: str) -> str:
        """``device_id`` chunked as its family reads it back; unchanged if no family fits."""
        candidates = self.families_for_length(len(device_id))
        if not candidates:
            return device_id
        # Families of one length could chunk differently; prefer one whose pattern the value fits.
        fitting = [f for f in candidates if matches_pattern(device_id, f.pattern)]
        return (fitting or list(candidates))[0].group(device_id)

    def is_serial_number(self, value: str) -> bool:
        return matches_pattern(value, self.serial_pattern)


def _pattern(mapping: ContentMapping, key: str) -> str:
    pattern = mapping.require(key, str)
    if not pattern or not set(pattern) <= PATTERN_ALPHABET:
        raise mapping.error(f"'{key}' {pattern!r} may only use A (a letter) and 9 (a digit)")
    return pattern


def _example(mapping: ContentMapping, pattern: str) -> str:
    example = mapping.require("example", str)
    if not matches_pattern(example, pattern):
        raise mapping.error(f"example {example!r} does not fit pattern {pattern!r}")
    return example


def _lookalike_table(mapping: ContentMapping, key: str, from_digits: bool) -> dict[str, str]:
    table = mapping.require(key, ContentMapping)
    digits, letters = "0123456789", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    sources, targets = (digits, letters) if from_digits else (letters, digits)
    result: dict[str, str] = {}
    for source, target in table.items():
        source, target = str(source), str(target)
        if len(source) != 1 or len(target) != 1 or source not in sources or target not in targets:
            wanted = "digit to a capital letter" if from_digits else "capital letter to a digit"
            raise table.error(f"'{key}' entry {source!r}: {target!r} must map one {wanted}")
        result[source] = target
    return result


def _family(mapping: object, index: int, parent: ContentMapping) -> Family:
    if not isinstance(mapping, ContentMapping):
        raise parent.error(f"family #{index + 1} must be a mapping")
    name = mapping.require("name", str)
    models = mapping.require("models", list)
    if not models or not all(isinstance(m, str) and m.strip() for m in models):
        raise mapping.error(f"family '{name}': 'models' must be a non-empty list of strings")
    device_id = mapping.require("device_id", ContentMapping)
    pattern = _pattern(device_id, "pattern")
    groups = device_id.require("groups", list)
    if not all(isinstance(g, int) and g > 0 for g in groups) or sum(groups) != len(pattern):
        raise device_id.error(
            f"family '{name}': groups {groups} must be positive and add up to "
            f"the pattern length {len(pattern)}"
        )
    return Family(
        name=name,
        label=mapping.require("label", str),
        models=tuple(m.strip().upper() for m in models),
        route=mapping.require("route", str),
        pattern=pattern,
        groups=tuple(groups),
        example=_example(device_id, pattern),
    )


def _parse(path: Path) -> DeviceIdFormats:
    root = load_mapping(path)
    raw_families = root.require("families", list)
    if not raw_families:
        raise root.error("'families' must list at least one family")
    families = tuple(_family(raw, i, root) for i, raw in enumerate(raw_families))

    seen_names: set[str] = set()
    seen_models: dict[str, str] = {}
    for raw, family in zip(raw_families, families, strict=True):
        if family.name in seen_names:
            raise raw.error(f"family name '{family.name}' is used twice")
        seen_names.add(family.name)
        for model in family.models:
            if model in seen_models:
                raise raw.error(
                    f"model {model} is in both '{seen_models[model]}' and '{family.name}'"
                )
            seen_models[model] = family.name

    lookalikes = root.require("lookalikes", ContentMapping)
    serial = root.require("serial_number", ContentMapping)
    serial_pattern = _pattern(serial, "pattern")
    for raw, family in zip(raw_families, families, strict=True):
        if family.pattern == serial_pattern:
            # The checks tell serials and Device IDs apart by shape; identical shapes would make
            # every ID of that family look like a serial number.
            raise raw.error(f"family '{family.name}' has the serial number's pattern")
    max_attempts = root.require("max_attempts", int)
    if max_attempts < 1:
        raise root.error("'max_attempts' must be at least 1")
    extraction = root.optional("extraction", ContentMapping, ContentMapping())
    min_candidate_length = extraction.optional("min_length", int, 6)
    if min_candidate_length < 1:
        raise extraction.error("'min_length' must be at least 1")
    not_id_words = _not_id_words(extraction)
    # Owners write in every language the assistant speaks, and one extractor reads them all: the
    # small words of each translation (<lang>/device_id_formats.yml beside this file) count too.
    for translation in sorted(path.parent.glob(f"*/{path.name}")):
        translated = load_mapping(translation).optional(
            "extraction", ContentMapping, ContentMapping()
        )
        not_id_words += [w for w in _not_id_words(translated) if w not in not_id_words]
    return DeviceIdFormats(
        families=families,
        serial_pattern=serial_pattern,
        serial_example=_example(serial, serial_pattern),
        to_digit=_lookalike_table(lookalikes, "to_digit", from_digits=False),
        to_letter=_lookalike_table(lookalikes, "to_letter", from_digits=True),
        max_attempts=max_attempts,
        min_candidate_length=min_candidate_length,
        not_id_words=tuple(not_id_words),
    )


def _not_id_words(extraction: ContentMapping) -> list[str]:
    words = extraction.optional("not_id_words", list, [])
    if not all(isinstance(word, str) and word.strip() for word in words):
        raise extraction.error("'not_id_words' must be a list of words")
    return [word.strip().lower() for word in words]


@lru_cache(maxsize=1)
def _load_default() -> DeviceIdFormats:
    return _parse(DEFAULT_FORMATS_PATH)


def load_formats(path: str | Path | None = None) -> DeviceIdFormats:
    """The Device ID formats; the default file is parsed once per process."""
    if path is None:
        return _load_default()
    return _parse(Path(path))


__all__ = [
    "DEFAULT_FORMATS_PATH",
    "ContentError",
    "DeviceIdFormats",
    "Family",
    "UnknownFamilyError",
    "UnknownModelError",
    "load_formats",
    "matches_pattern",
]
