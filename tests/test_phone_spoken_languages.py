"""The spoken Device ID tables in Spanish and French (tests/nlu/spoken_es.yml, spoken_fr.yml):
transcripts as Twilio's es-US and fr-CA recognisers deliver them, written before the reader,
and the registered ID each must resolve to.

Each row is heard with that language's phone content and resolved against the real registry
(a SQLite database seeded from the demo CSV, as tests/test_phone_spoken.py does); the first
registered reading must be the row's ID. Ambiguous readings are the registry's to decide, as
in English: nothing is guessed.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot.content import DATA_DIR
from bot.db import Database, migrate
from bot.devices.formats import load_formats
from bot.devices.registry import DeviceRegistry
from bot.phone.content import load_phone_languages
from bot.phone.lookup import RegistryIds
from bot.phone.speech import read_back
from bot.phone.spoken import hear, resolve

TABLES = Path(__file__).parent / "nlu"
LANGUAGES = load_phone_languages()
FORMATS = load_formats()


def _rows(language: str) -> list[tuple[str, str]]:
    table = yaml.safe_load((TABLES / f"spoken_{language}.yml").read_text(encoding="utf-8"))
    assert table["language"] == LANGUAGES[language].language
    return [(entry["transcript"], entry["device_id"]) for entry in table["entries"]]


ROWS = [(language, *row) for language in ("es", "fr") for row in _rows(language)]


@pytest.fixture(scope="module")
def registry_ids(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryIds]:
    path = tmp_path_factory.mktemp("spoken_languages") / "lorex.db"
    migrate(f"sqlite:///{path}")
    database = Database(f"sqlite:///{path}")
    registry = DeviceRegistry(database)
    registry.seed_from_csv(DATA_DIR / "devices.csv")
    yield RegistryIds(registry)
    database.dispose()


def test_every_row_names_a_registered_recorder() -> None:
    with open(DATA_DIR / "devices.csv", newline="", encoding="utf-8") as handle:
        registered = {row["device_id"] for row in csv.DictReader(handle)}
    assert len(ROWS) >= 220
    assert {device_id for _, _, device_id in ROWS} <= registered


@pytest.mark.parametrize(
    ("language", "transcript", "expected"),
    ROWS,
    ids=[f"{language}-{index}" for index, (language, _, _) in enumerate(ROWS)],
)
def test_spoken_device_id(
    language: str, transcript: str, expected: str, registry_ids: RegistryIds
) -> None:
    content = LANGUAGES[language]
    heard = hear(transcript, content)
    max_swaps = content.max_confusable_swaps
    resolution = resolve(heard.pieces, FORMATS, registry_ids, max_swaps=max_swaps)
    assert resolution.found, f"nothing registered for {heard.text!r}"
    assert resolution.found[0] == expected, heard.text


@pytest.mark.parametrize(
    ("language", "transcript", "expected"),
    [
        # Letters as the recogniser writes a letter said alone: one small letter each.
        ("fr", "oui allo c'est p d six trois cinq neuf cinq six deux cinq deux huit o i x",
         "PD6359562528OIX"),
        ("fr", "z k huit un huit neuf zéro zéro neuf huit sept zéro b n i", "ZK8189009870BNI"),
        ("fr", "ok je l'ai. y g deux zéro cinq huit trois deux deux neuf sept neuf m r w",
         "YG2058322979MRW"),
        ("es", "es la f w cuatro dos siete siete seis cinco ocho dos dos uno c q r",
         "FW4277658221CQR"),
    ],
)
def test_small_letters_said_alone(
    language: str, transcript: str, expected: str, registry_ids: RegistryIds
) -> None:
    content = LANGUAGES[language]
    pieces = hear(transcript, content).pieces
    resolution = resolve(pieces, FORMATS, registry_ids, max_swaps=content.max_confusable_swaps)
    assert resolution.found[:1] == (expected,)


@pytest.mark.parametrize(
    "sentence",
    ["olvidé la contraseña de mi grabador", "sí", "dónde lo encuentro",
     "quiero hablar con una persona", "no sé", "y donde encuentro ese numero? no se cual es"],
)
def test_spanish_sentences_hold_no_device_id(sentence: str) -> None:
    assert hear(sentence, LANGUAGES["es"]).pieces == ()


@pytest.mark.parametrize(
    "sentence",
    ["j'ai oublié le mot de passe de mon enregistreur", "oui", "où je le trouve",
     "je veux parler à quelqu'un"],
)
def test_french_sentences_hold_no_device_id(sentence: str) -> None:
    assert hear(sentence, LANGUAGES["fr"]).pieces == ()


@pytest.mark.parametrize("language", ["es", "fr"])
def test_a_device_id_is_read_back_as_printed(language: str) -> None:
    pause = LANGUAGES[language].device_id.chunk_pause
    chunks = read_back("ND4810273945KXQ", FORMATS, LANGUAGES[language])
    assert chunks.split(pause) == ["N D 4 8", "1 0 2 7", "3 9 4 5", "K X Q"]
