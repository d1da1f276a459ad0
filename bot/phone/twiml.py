"""TwiML for the phone channel, built with twilio's ``VoiceResponse`` (never string templates).

Every prompt that expects an answer is a ``<Gather input="dtmf speech" bargeIn="true">`` with the
speech hints for what is expected and a timeout from ``data/content/phone.yml``; an empty result
still posts back (``actionOnEmptyResult``), so silence reaches the channel and is reprompted.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from twilio.twiml.voice_response import VoiceResponse

from bot.phone.content import PhoneContent
from bot.phone.steps import (
    CheckAgain,
    Dial,
    Enqueue,
    Goodbye,
    HangUp,
    Hold,
    LanguageMenu,
    Leave,
    Prompt,
    Reply,
)

PATHS = {
    "voice": "/webhooks/phone/voice",
    "status": "/webhooks/phone/status",
    "wait": "/webhooks/phone/wait",
    "after_queue": "/webhooks/phone/after-queue",
    "whisper": "/webhooks/phone/whisper",
    "after_dial": "/webhooks/phone/after-dial",
}


# The URLs of a call's own next request carry the call's turn token (``?turn=``): Twilio signs
# the whole URL, so two answers never lead to byte-identical requests (two silences in a row
# included), and a request seen before is a copy. The whisper is the agent's leg, not the call's.
TURN_PATHS = frozenset({"voice", "wait", "after_queue", "after_dial"})
TURN_PARAMETER = "turn"


@dataclass(frozen=True)
class Urls:
    base: str  # PUBLIC_BASE_URL: what Twilio calls, e.g. https://lorex.example.com
    turn: str | None = None  # the call's turn token, for the URLs of its next request

    def __getitem__(self, name: str) -> str:
        url = self.base.rstrip("/") + PATHS[name]
        if self.turn is not None and name in TURN_PATHS:
            url += "?" + urlencode({TURN_PARAMETER: self.turn})
        return url

    def at_turn(self, turn: str) -> Urls:
        return Urls(self.base, turn)


def prompt(
    content: PhoneContent,
    urls: Urls,
    sayings: list[str],
    kind: str,
    *,
    pause_between: bool = False,
) -> VoiceResponse:
    """Say ``sayings`` and listen for an answer (speech or keys)."""
    response = VoiceResponse()
    gather = response.gather(
        input="dtmf" if kind == "private_step" else "dtmf speech",
        action=urls["voice"],
        method="POST",
        barge_in=True,
        hints=content.hint(kind),
        timeout=_timeout(content, kind),
        speech_timeout=content.speech_timeout,
        language=content.language,
        action_on_empty_result=True,
    )
    for saying in sayings:
        gather.say(saying, voice=content.voice, language=content.language)
        if pause_between:
            gather.pause(length=1)
    return response


def language_menu(content: PhoneContent, urls: Urls, menu: LanguageMenu) -> VoiceResponse:
    """Each language's line of the menu in its own voice, listening for one key or a name."""
    response = VoiceResponse()
    gather = response.gather(
        input="dtmf speech",
        action=urls["voice"],
        method="POST",
        barge_in=True,
        num_digits=1,
        hints=menu.hints,
        timeout=content.timeout,
        speech_timeout=content.speech_timeout,
        language=menu.language,
        action_on_empty_result=True,
    )
    for line in menu.lines:
        gather.say(line.text, voice=line.voice, language=line.language)
    return response


def _timeout(content: PhoneContent, kind: str) -> int:
    if kind == "device_id":
        return content.device_id_timeout
    if kind in ("steps", "private_step"):
        return content.steps_timeout
    return content.timeout


def say_and_redirect(
    content: PhoneContent, sayings: list[str], url: str, pause: int = 0
) -> VoiceResponse:
    response = VoiceResponse()
    for saying in sayings:
        response.say(saying, voice=content.voice, language=content.language)
    if pause:
        response.pause(length=pause)
    response.redirect(url, method="POST")
    return response


def enqueue(content: PhoneContent, urls: Urls, sayings: list[str]) -> VoiceResponse:
    """Say ``sayings``, then hold the caller in the support queue."""
    response = VoiceResponse()
    for saying in sayings:
        response.say(saying, voice=content.voice, language=content.language)
    response.enqueue(
        content.queue.name,
        wait_url=urls["wait"],
        wait_url_method="POST",
        action=urls["after_queue"],
        method="POST",
    )
    return response


def dial(
    content: PhoneContent, urls: Urls, sayings: list[str], case_code: str
) -> VoiceResponse:
    """Say ``sayings``, then call the support centre; the agent hears the case code first."""
    response = VoiceResponse()
    for saying in sayings:
        response.say(saying, voice=content.voice, language=content.language)
    dialled = response.dial(action=urls["after_dial"], method="POST")
    dialled.number(
        content.handoff.dial_number,
        url=f"{urls['whisper']}?{urlencode({'case': case_code})}",
        method="POST",
    )
    return response


def hold(content: PhoneContent, sayings: list[str]) -> VoiceResponse:
    """What the wait URL plays: where the caller stands, then hold music (if configured)."""
    response = VoiceResponse()
    for saying in sayings:
        response.say(saying, voice=content.voice, language=content.language)
    if content.queue.hold_music_url:
        response.play(content.queue.hold_music_url)
    else:
        response.pause(length=20)
    return response


def leave() -> VoiceResponse:
    response = VoiceResponse()
    response.leave()
    return response


def goodbye(
    content: PhoneContent, sayings: list[str], *, farewell: bool = True, hang_up: bool = True
) -> VoiceResponse:
    """Say ``sayings`` (and the goodbye from phone.yml, unless they already said it), hang up."""
    response = VoiceResponse()
    for saying in [*sayings, content.goodbye] if farewell else sayings:
        response.say(saying, voice=content.voice, language=content.language)
    if hang_up:
        response.hangup()
    return response


def empty() -> VoiceResponse:
    return VoiceResponse()


def hang_up() -> VoiceResponse:
    response = VoiceResponse()
    response.hangup()
    return response


def render(reply: Reply, content: PhoneContent, urls: Urls) -> VoiceResponse:
    """The TwiML for a reply of the call's state machine (:mod:`bot.phone.steps`), its URLs
    carrying the call's turn token."""
    if isinstance(reply, Prompt):
        sayings = list(reply.sayings)
        return prompt(content, urls, sayings, reply.kind, pause_between=reply.pause_between)
    if isinstance(reply, LanguageMenu):
        return language_menu(content, urls, reply)
    if isinstance(reply, Enqueue):
        return enqueue(content, urls, list(reply.sayings))
    if isinstance(reply, Dial):
        return dial(content, urls, list(reply.sayings), reply.case_code)
    if isinstance(reply, Goodbye):
        sayings = list(reply.sayings)
        return goodbye(content, sayings, farewell=reply.farewell, hang_up=reply.hang_up)
    if isinstance(reply, Hold):
        return hold(content, list(reply.sayings))
    if isinstance(reply, CheckAgain):
        sayings = list(reply.sayings)
        return say_and_redirect(content, sayings, urls["after_queue"], pause=reply.pause)
    if isinstance(reply, Leave):
        return leave()
    if isinstance(reply, HangUp):
        return hang_up()
    return empty()
