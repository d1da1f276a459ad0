"""Be the caller in a terminal: ``python -m bot.phone.simulator``.

It does what Twilio does for a call to the assistant: posts signed requests (``CallSid``,
``From``, ``SpeechResult`` or ``Digits``) to the phone channel, prints what would be said, and
follows the TwiML: ``<Gather>`` waits for your line, ``<Enqueue>`` polls the wait URL until
``<Leave/>`` and then posts to the action URL, ``<Redirect>`` and ``<Hangup>`` are followed. Each
request goes to the URL the last TwiML named, turn token and all, as Twilio's would.

What you type: words are speech; ``press 123#`` (or ``*``) are keys; an empty line is silence;
``hang up`` ends the call (and posts the status callback). Needs ``TWILIO_AUTH_TOKEN`` and
``PUBLIC_BASE_URL`` as the server has them; ``--server`` is where the Rasa server really listens.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator

import requests
from twilio.request_validator import RequestValidator

from bot.phone.twiml import PATHS
from bot.settings import settings_from

HANG_UP = "hang up"
MAX_STEPS = 500  # TwiML documents followed in one call, at most
HOLD_TWIML_SECONDS = 20  # what the wait URL's answer lasts (a pause, or the hold music)


class Simulator:
    def __init__(
        self,
        server: str,
        public_base_url: str,
        token: str,
        *,
        caller: str = "+14165550101",
        say: Callable[[str], None] = print,
        hold_seconds: float = 2.0,
    ) -> None:
        self.server = server.rstrip("/")
        self.public = public_base_url.rstrip("/")
        self.validator = RequestValidator(token)
        self.call_sid = "CA" + uuid.uuid4().hex
        self.caller = caller
        self.say = say
        self.hold_seconds = hold_seconds
        self.http = requests.Session()

    def post(self, public_url: str, **params: str) -> ET.Element:
        form = {"CallSid": self.call_sid, "From": self.caller, "To": "+18885550000", **params}
        signature = self.validator.compute_signature(public_url, form)
        local = self.server + public_url.removeprefix(self.public)
        answer = self.http.post(
            local, data=form, headers={"X-Twilio-Signature": signature}, timeout=60
        )
        if answer.status_code == 403:
            raise SystemExit("403: the server refused the signature (check the token and URL)")
        answer.raise_for_status()
        return ET.fromstring(answer.text) if answer.text.strip() else ET.Element("Response")

    def hang_up(self) -> None:
        self.post(self.public + PATHS["status"], CallStatus="completed")
        self.say("[call ended]")

    def call(self, lines: Iterator[str]) -> None:
        """Place the call and follow it until hang-up (by either side) or ``lines`` run out."""
        twiml = self.post(self.public + PATHS["voice"], CallStatus="ringing")
        for _ in range(MAX_STEPS):
            following = self._follow(twiml, lines)
            if following is None:
                return
            twiml = following
        self.hang_up()

    def _follow(self, twiml: ET.Element, lines: Iterator[str]) -> ET.Element | None:
        for verb in twiml:
            if verb.tag == "Say":
                self.say(f"assistant: {verb.text or ''}")
            elif verb.tag == "Play":
                self.say("[hold music]")
            elif verb.tag == "Pause":
                continue
            elif verb.tag == "Gather":
                for inner in verb:
                    if inner.tag == "Say":
                        self.say(f"assistant: {inner.text or ''}")
                line = next(lines, None)
                if line is None or line.strip().lower() == HANG_UP:
                    self.hang_up()
                    return None
                return self.post(verb.get("action", ""), **_answer(line))
            elif verb.tag == "Enqueue":
                return self._hold(verb)
            elif verb.tag == "Redirect":
                return self.post(verb.text or "")
            elif verb.tag == "Hangup":
                self.hang_up()
                return None
        self.hang_up()
        return None

    def _hold(self, enqueue: ET.Element) -> ET.Element:
        self.say("[on hold]")
        queue_time = 0
        for _ in range(MAX_STEPS):
            # Twilio asks the wait URL again each time its hold TwiML ends (20 s and more), so
            # no two of these requests are alike (a repeat would be refused as a replay).
            queue_time += HOLD_TWIML_SECONDS
            waiting = self.post(
                enqueue.get("waitUrl", ""), QueuePosition="1", QueueTime=str(queue_time)
            )
            if waiting.find("Leave") is not None:
                break
            for verb in waiting:
                if verb.tag == "Say":
                    self.say(f"assistant: {verb.text or ''}")
            time.sleep(self.hold_seconds)
        self.say("[off hold]")
        return self.post(enqueue.get("action", ""), QueueResult="leave")


def _answer(line: str) -> dict[str, str]:
    text = line.strip()
    if text.lower().startswith("press "):
        return {"Digits": text[len("press ") :].replace(" ", "")}
    if text == "*":
        return {"Digits": "*"}
    return {"SpeechResult": text, "Confidence": "0.9"} if text else {}


def main(argv: list[str] | None = None) -> int:
    try:
        settings = settings_from(os.environ)  # the same settings the server reads
    except ValueError as exc:
        print(f"phone simulator: {exc}", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--server", default=settings.rasa_url)
    parser.add_argument("--from", dest="caller", default="+14165550101")
    args = parser.parse_args(argv)
    token = settings.twilio_auth_token
    public = settings.public_base_url
    if not token or not public:
        print("set TWILIO_AUTH_TOKEN and PUBLIC_BASE_URL as the server has them", file=sys.stderr)
        return 2

    def lines() -> Iterator[str]:
        while True:
            try:
                yield input("you> ")
            except EOFError:
                return

    Simulator(args.server, public, token, caller=args.caller).call(lines())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
