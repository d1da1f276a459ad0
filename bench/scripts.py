"""The conversations the load test holds: realistic scripts, one fresh sender per conversation.

A script is a list of turns; each turn has what the user types and a piece of text the reply must
contain (a cheap check that the server did the real work, not an error path). Scripts are drawn
at random, with a seeded generator, so every run holds the same mix.

* Ours: the "forgot my password" path that ends with a registered Device ID (which opens a case
  and pauses the conversation for an agent, so it is always the last turn), and the guided reset
  (temporary password, then done / back / repeat / stuck through every step to the end).
* Ours by phone (a whole call each, turns as Twilio posts them: ``press 1`` is keys, an empty
  turn is silence, the first turn is the call coming in): the forgotten password with the Device
  ID spoken in one breath or group by group, read back and confirmed, the owner's details spoken
  or skipped, ending on hold for an agent; and the guided reset for a caller who already has a
  temporary password, by keys and by voice, with repeat / back / help / silence, to the goodbye.
* The stock bot (``rasa init``'s content): greet, then the happy or one of the sad paths, and a
  bot challenge, each ending in goodbye.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from dataclasses import dataclass

from bench.paths import REPO


@dataclass(frozen=True)
class Turn:
    text: str
    expect: str  # a substring of the joined reply texts; "" accepts any non-error answer
    label: str  # what kind of turn, for per-turn-type figures


@dataclass(frozen=True)
class Script:
    name: str
    turns: tuple[Turn, ...]


ScriptSource = Callable[[random.Random], Script]


def registered_devices(route: str = "procedure") -> list[tuple[str, str]]:
    """(Device ID, model) rows from the demo registry whose family's reset route is ``route``."""
    from bot.devices.formats import load_formats

    formats = load_formats()
    with open(REPO / "data" / "devices.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [
        (row["device_id"], row["model"])
        for row in rows
        if formats.family_for_model(row["model"]).route == route
    ]


def _typed(device_id: str, rng: random.Random) -> str:
    """The ID as an owner might type it: grouped or not, any case, in a short phrase."""
    from bot.devices.formats import load_formats

    groups = load_formats().group(device_id).split()  # as on the label: ND48 1027 3945 KXQ
    shape = rng.choice(["compact", "spaced", "dashed"])
    value = {
        "compact": device_id,
        "spaced": " ".join(groups),
        "dashed": "-".join(groups),
    }[shape]
    if rng.random() < 0.5:
        value = value.lower()
    return rng.choice(["{}", "my device id is {}", "it's {}", "Device ID: {}"]).format(value)


def lorex_scripts() -> list[ScriptSource]:
    devices = registered_devices()
    if not devices:
        raise RuntimeError("no registered device with the 'procedure' route in data/devices.csv")

    owners = {row["device_id"]: row for row in _owners()}

    def forgot_password(rng: random.Random) -> Script:
        device_id, _ = rng.choice(devices)
        owner = owners[device_id]
        # The owner's details, for the agent's verification card; sometimes skipped.
        answers = [
            (owner["owner_name"], "email address", "owner's name"),
            (owner["owner_email"], "phone number", "owner's email"),
            (owner["owner_phone"], "support case", "owner's phone → case queued"),
        ]
        return Script(
            "forgot password → Device ID → owner's details → case queued",
            (
                Turn(rng.choice(["hi", "hello", "hey there"]), "Lorex", "greet"),
                Turn(
                    rng.choice(
                        [
                            "I forgot my recorder's password",
                            "I need to reset my NVR password",
                            "locked out of my recorder, forgot the password",
                        ]
                    ),
                    "Device ID",
                    "request reset",
                ),
                Turn(
                    rng.choice(["where can I find it?", "where is the device id?"]),
                    "QR code",
                    "where is the ID",
                ),
                Turn(_typed(device_id, rng), "What name", "Device ID → owner's name asked"),
                # The last answer queues the case for an agent: always the last turn.
                *(
                    Turn(said if rng.random() < 0.8 else "skip", expect, label)
                    for said, expect, label in answers
                ),
            ),
        )

    def guided_reset(rng: random.Random) -> Script:
        total = _step_count()
        done = ["done", "ok done", "next", "finished that step", "done, what's next"]
        turns = [
            Turn(
                rng.choice(
                    [
                        "support gave me a temporary password",
                        "I have the temporary password",
                        "support already gave me a temporary password",
                    ]
                ),
                "Step 1 of",
                "temporary password",
            ),
            Turn(rng.choice(done), "Step 2 of", "step done"),
            Turn("go back", "Step 1 of", "step back"),
            Turn("can you repeat that", "Step 1 of", "step repeat"),
            Turn("I'm stuck", "Step 1 of", "step stuck"),
        ]
        turns += [
            Turn(rng.choice(done), f"Step {number} of {total}", "step done")
            for number in range(2, total + 1)
        ]
        turns.append(Turn("done", "", "last step done"))
        return Script("temporary password → every reset step", tuple(turns))

    return [forgot_password, guided_reset]


DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _spoken_email(email: str) -> str:
    """``zion.juniperfield@example.com`` as said: "zion dot juniperfield at example dot com"."""
    return email.replace(".", " dot ").replace("@", " at ")


def _spoken_phone(phone: str) -> str:
    """``+1 202-555-0110`` as said: "two oh two, five five five, oh one one oh"."""
    digits = "".join(c for c in phone if c.isdigit()).removeprefix("1")
    words = ["oh" if d == "0" else DIGIT_NAMES[int(d)] for d in digits]
    return ", ".join(" ".join(words[a:b]) for a, b in ((0, 3), (3, 6), (6, len(words))))


def _owners(route: str = "procedure") -> list[dict[str, str]]:
    """Registry rows (ID, owner's name, email, phone) of devices whose reset route is ``route``."""
    from bot.devices.formats import load_formats

    formats = load_formats()
    with open(REPO / "data" / "devices.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [row for row in rows if formats.family_for_model(row["model"]).route == route]


def phone_scripts() -> list[ScriptSource]:
    """Whole calls to the phone webhook, expecting what the channel really says (its TwiML)."""
    from bench.spoken_table import spoken_form, spoken_groups
    from bot.devices.formats import load_formats
    from bot.phone.content import load_phone_content
    from bot.phone.speech import read_back

    owners = _owners()
    if not owners:
        raise RuntimeError("no registered device with the 'procedure' route in data/devices.csv")
    formats, content = load_formats(), load_phone_content()
    total = _step_count()
    ask_id = "Device ID. What is it?"
    menu = content.choice.option  # the language menu's English line (press 1)

    def forgot_password(rng: random.Random) -> Script:
        row = rng.choice(owners)
        device_id = row["device_id"]
        turns = [
            Turn("", menu, "call comes in: the language menu"),
            Turn("press 1", ask_id, "English"),
        ]
        if rng.random() < 0.5:
            turns.append(Turn("I forgot my recorder password", ask_id, "request reset"))
        if rng.random() < 0.5:
            question = rng.choice(["where do I find the device ID", "where is the device ID"])
            turns.append(Turn(question, "QR code", "where is the ID"))
        heard = f"I heard {read_back(device_id, formats, content)}"
        if rng.random() < 0.5:
            turns.append(Turn(spoken_form(device_id, rng), heard, "Device ID spoken"))
        else:
            *first, last = spoken_groups(device_id, rng)
            turns += [Turn(group, "Got it", "Device ID piece") for group in first]
            turns.append(Turn(last, heard, "Device ID last piece"))
        turns.append(
            Turn(rng.choice(["yes", "yeah that's right", "press 1"]), "registered under", "confirm")
        )
        answers = [
            (row["owner_name"], "email address", "owner's name"),
            (_spoken_email(row["owner_email"]), "phone number", "owner's email"),
            (_spoken_phone(row["owner_phone"]), "putting you through", "owner's phone → queue"),
        ]
        turns += [
            Turn(said if rng.random() < 0.7 else "skip", expect, label)
            for said, expect, label in answers
        ]
        # On hold for an agent (<Enqueue>): the call's last turn; closing it hangs up.
        return Script("phone: forgot password → Device ID spoken → on hold", tuple(turns))

    def guided_reset(rng: random.Random) -> Script:
        done = ["press 1", "press 1", "done", "ok done", "next"]
        turns = [
            Turn("", menu, "call comes in: the language menu"),
            Turn("press 1", ask_id, "English"),
            Turn(
                rng.choice(
                    [
                        "support gave me a temporary password",
                        "I already have the temporary password",
                    ]
                ),
                "Step 1 of",
                "temporary password",
            ),
            Turn(rng.choice(done), "Step 2 of", "step done"),
            Turn(rng.choice(["press 3", "go back"]), "Step 1 of", "step back"),
            Turn(rng.choice(["press 2", "repeat"]), "Step 1 of", "step repeat"),
            Turn(rng.choice(["press 0", "help"]), "Step 1 of", "step help"),
            Turn("", "Take your time", "silence at a step"),
        ]
        private = _private_steps()
        for number in range(2, total + 1):
            # Where the new password is typed, only keys are listened to.
            said = "press 1" if number - 1 in private else rng.choice(done)
            turns.append(Turn(said, f"Step {number} of {total}", "step done"))
        said = "press 1" if total in private else rng.choice(done)
        turns.append(Turn(said, "[hangup]", "last step done → goodbye"))
        return Script("phone: temporary password → every reset step", tuple(turns))

    return [forgot_password, guided_reset]


def _private_steps() -> set[int]:
    """Numbers (from 1) of the reset steps where the caller types a password: keys only."""
    from bot.guide.procedure import load_procedure

    steps = load_procedure().steps
    return {n for n, step in enumerate(steps, 1) if step.sensitive_input}


def _step_count() -> int:
    from bot.guide.procedure import load_procedure

    return len(load_procedure().steps)


def stock_scripts() -> list[ScriptSource]:
    """Scripts for ``rasa init``'s bot, in words close to its own training data (it knows
    little else, and a misunderstood message would take another path than the one timed)."""

    def happy(rng: random.Random) -> Script:
        return Script(
            "greet → mood great → goodbye",
            (
                Turn(rng.choice(["hi", "hello", "hey there"]), "How are you", "greet"),
                Turn(
                    rng.choice(["great", "I am feeling very good", "amazing"]), "carry on", "mood"
                ),
                Turn(rng.choice(["bye", "goodbye", "see you later"]), "Bye", "goodbye"),
            ),
        )

    def sad(rng: random.Random) -> Script:
        helped = rng.random() < 0.5
        return Script(
            "greet → unhappy → cheer up → yes/no → goodbye",
            (
                Turn(rng.choice(["hi", "hello", "good morning"]), "How are you", "greet"),
                Turn(rng.choice(["sad", "I am sad", "not good"]), "cheer you up", "mood"),
                Turn("yes" if helped else "no", "carry on" if helped else "Bye", "affirm/deny"),
                Turn(rng.choice(["bye", "goodbye"]), "Bye", "goodbye"),
            ),
        )

    def challenge(rng: random.Random) -> Script:
        return Script(
            "greet → are you a bot → goodbye",
            (
                Turn("hello", "How are you", "greet"),
                Turn(rng.choice(["are you a bot?", "am I talking to a bot?"]), "bot", "challenge"),
                Turn("bye", "Bye", "goodbye"),
            ),
        )

    return [happy, sad, challenge]
