"""The phone simulator drives the channel exactly as Twilio would: signed requests, TwiML followed
(Gather, Enqueue with its wait URL, Leave, Hangup)."""

from __future__ import annotations

import pytest

from bot.cases.status import CaseStatus
from bot.cases.store import CaseStore
from bot.phone.simulator import Simulator, main
from tests.test_phone_channel import PUBLIC, TOKEN, Phone, _release, phone  # noqa: F401


def test_a_call_through_the_simulator(phone: Phone) -> None:  # noqa: F811
    printed: list[str] = []
    simulator: Simulator

    def say(line: str) -> None:
        printed.append(line)
        if line == "[on hold]":
            case = CaseStore(phone.dialogue.database).latest_for_conversation(simulator.call_sid)
            assert case is not None and case.status is CaseStatus.QUEUED
            phone.call_sid = simulator.call_sid
            _release(phone, case.code, "K7QX")

    simulator = Simulator(phone.url, PUBLIC, TOKEN, say=say, hold_seconds=0)
    simulator.call(iter(["N D 4 8 1 0 2 7 3 9 4 5 K X Q", "press 1", "again", "ready", "hang up"]))
    transcript = "\n".join(printed)
    assert "I heard N D 4 8" in transcript
    assert "[on hold]" in transcript and "[off hold]" in transcript
    assert transcript.count("capital K, as in kilo") == 2  # read, then read again
    assert "Step 1 of 10" in transcript
    assert printed[-1] == "[call ended]"
    assert phone.channel.calls.get(simulator.call_sid) is None  # the status callback ended it


def test_the_simulator_needs_the_token_and_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    assert main([]) == 2
