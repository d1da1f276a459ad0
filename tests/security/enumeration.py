"""How many Device IDs one client can check against the registry in a given time, three ways:
in one conversation, with a fresh conversation for every ID, and through the label-photo reader.

Used by tests/security/test_device_id_enumeration.py, and on its own to measure a running
product (a bounded loop; it prints IDs checked per minute):

    .venv/bin/python -m tests.security.enumeration http://127.0.0.1:5005 --seconds 20
"""

from __future__ import annotations

import argparse
import io
import random
import string
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import qrcode
import requests

# An N-series Device ID is AA9999999999AAA (data/content/device_id_formats.yml). Starting with
# "ZZ" keeps the guesses away from the demo registry's IDs, so every guess is a miss.
GUESS_PREFIX = "ZZ"
NOT_FOUND_WORDS = "couldn't find"
LIMITED_WORDS = "too many"


def guessed_device_id(rng: random.Random) -> str:
    digits = "".join(rng.choice(string.digits) for _ in range(10))
    letters = "".join(rng.choice("ACDEFHJKMNPRTUVWXY") for _ in range(3))
    return f"{GUESS_PREFIX}{digits}{letters}"


def qr_png(text: str) -> bytes:
    out = io.BytesIO()
    qrcode.make(text, box_size=4, border=4).save(out, "PNG")
    return out.getvalue()


@dataclass
class Tally:
    checked: int = 0  # IDs the registry answered for ("not found")
    limited: int = 0  # answers that said the limit was reached
    other: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str) -> None:
        with self.lock:
            setattr(self, kind, getattr(self, kind) + 1)


def _say(rasa_url: str, sender: str, message: str) -> str:
    reply = requests.post(
        f"{rasa_url}/webhooks/rest/webhook",
        json={"sender": sender, "message": message},
        timeout=60,
    )
    reply.raise_for_status()
    return "\n".join(m.get("text", "") for m in reply.json())


def _classify_reply(text: str) -> str:
    if LIMITED_WORDS in text.lower():
        return "limited"
    if NOT_FOUND_WORDS in text:
        return "checked"
    return "other"


def one_conversation(rasa_url: str, seconds: float) -> Tally:
    """One sender typing guess after guess (a guess after the offer of a person restarts the
    form, as a real user's next ID would)."""
    rng, tally, sender = random.Random(1), Tally(), f"enum-{uuid.uuid4().hex[:12]}"
    _say(rasa_url, sender, "I forgot my recorder password")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        tally.add(_classify_reply(_say(rasa_url, sender, guessed_device_id(rng))))
    return tally


def fresh_senders(rasa_url: str, seconds: float, workers: int = 4) -> Tally:
    """A new conversation for every guess, from ``workers`` threads of one client."""
    tally = Tally()

    def work(seed: int) -> None:
        rng = random.Random(seed)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            sender = f"enum-{uuid.uuid4().hex[:12]}"
            text = _say(rasa_url, sender, f"my device id is {guessed_device_id(rng)}")
            tally.add(_classify_reply(text))

    _run_threads(work, workers)
    return tally


def label_photos(rasa_url: str, seconds: float, workers: int = 4) -> Tally:
    """A QR code per guess, posted to the label-photo reader with no conversation at all."""
    tally = Tally()

    def work(seed: int) -> None:
        rng = random.Random(100 + seed)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            reply = requests.post(
                f"{rasa_url}/webhooks/widget/label-photo",
                data=qr_png(guessed_device_id(rng)),
                timeout=60,
            )
            if reply.status_code == 429:
                tally.add("limited")
            elif reply.ok and reply.json().get("outcome") == "not_found":
                tally.add("checked")
            else:
                tally.add("other")

    _run_threads(work, workers)
    return tally


def _run_threads(work: Callable[[int], None], workers: int) -> None:
    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rasa_url")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--only", choices=["conversation", "fresh", "photos"])
    args = parser.parse_args()
    for key, name, measure in [
        ("conversation", "one conversation", one_conversation),
        ("fresh", "fresh senders (4 threads)", fresh_senders),
        ("photos", "label photos (4 threads)", label_photos),
    ]:
        if args.only not in (None, key):
            continue
        tally = measure(args.rasa_url, args.seconds)
        per_minute = tally.checked * 60 / args.seconds
        print(
            f"{name}: {tally.checked} IDs checked in {args.seconds:.0f} s "
            f"({per_minute:.0f}/min), {tally.limited} refused by the limit, {tally.other} other"
        )


if __name__ == "__main__":
    main()
