"""The messy-conversation scenarios (tests/scenarios/*.yml), one test each, against one running
product (the real model, action server and console service layer on SQLite files).

Chat scenarios talk REST; phone scenarios post signed Twilio webhooks. At the end the pass counts
by state, pattern and channel are written to ``scenario-report.md`` under pytest's base temporary
folder (the path is printed), and every transcript to ``scenario-transcripts.md`` beside it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.running_product import running_product
from tests.scenarios.channels import Product
from tests.scenarios.runner import Transcript, play, report
from tests.scenarios.scenario import Scenario, load_scenarios

SCENARIOS = load_scenarios()
PUBLIC = "https://lorex-scenarios.example.test"
TWILIO_TOKEN = "scenario-twilio-token-" + uuid.uuid4().hex

# SCENARIOS_KEEP_GOING=1: play every turn of a failing scenario (whole transcripts).
KEEP_GOING = os.environ.get("SCENARIOS_KEEP_GOING") == "1"

_results: dict[str, tuple[Scenario, bool]] = {}
_transcripts: dict[str, str] = {}


@pytest.fixture(scope="module")
def product(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Product]:
    folder = tmp_path_factory.mktemp("scenarios")
    urls = [f"sqlite:///{folder / 'lorex.db'}", f"sqlite:///{folder / 'tracker.db'}"]
    env = {"PUBLIC_BASE_URL": PUBLIC, "TWILIO_AUTH_TOKEN": TWILIO_TOKEN}
    with running_product(
        folder, database_url=urls[0], tracker_store_url=urls[1], extra_env=env
    ) as (settings, _):
        yield Product(settings.rasa_url, settings.rasa_api_token, urls[0], PUBLIC, TWILIO_TOKEN)
    _write_report(tmp_path_factory.getbasetemp(), request.config)


def _write_report(folder: Path, config: pytest.Config) -> None:
    if not _results:
        return
    path = folder / "scenario-report.md"
    text = report(_results)
    path.write_text(text)
    (folder / "scenario-transcripts.md").write_text(
        "\n\n".join(f"```\n{t}\n```" for t in _transcripts.values()) + "\n"
    )
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    if terminal is not None:
        terminal.write_line("")
        terminal.write_line(text)
        terminal.write_line(f"scenario report: {path}")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scenario(scenario: Scenario, product: Product, request: pytest.FixtureRequest) -> None:
    if scenario.known_gap:
        request.applymarker(pytest.mark.xfail(reason=scenario.known_gap, strict=True))
    transcript = Transcript(scenario)
    try:
        play(scenario, product, transcript, keep_going=KEEP_GOING)
    except BaseException:
        _results[scenario.id] = (scenario, False)
        raise
    finally:
        _transcripts[scenario.id] = transcript.render()
    _results[scenario.id] = (scenario, True)
