"""Each of Twilio's requests answered once: the phone channel's guard against replays.

Every answer's URLs carry a fresh turn token, and a call's next request must carry the latest
one, so a legitimate request never repeats a signature. A signature seen before is a copy
(:class:`Replayed`), unless it brings the same ``I-Twilio-Idempotency-Token``: that is Twilio
retrying a request it got no answer to, and it gets the answer already given (where that was the
temporary password, only the offer to hear it again) with no new turn. A request for a call that
has ended gets a hang-up: an ended call never comes back, and never opens a case. What a request
means for the call is :class:`bot.phone.flow.CallFlow`'s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

from twilio.twiml.voice_response import VoiceResponse

from bot.cases.status import CaseStatus
from bot.phone import twiml
from bot.phone.calls import Call, Seen, new_turn
from bot.phone.flow import CallFlow

# Requests about the call itself (the whisper is the agent's leg), and those that move it on (a
# retry of one of these gets the answer already given, never a second turn).
CALL_STEPS = frozenset({"voice", "wait", "after_queue", "after_dial"})


class Replayed(Exception):
    """A copy of a request already answered, or of one from an earlier turn: refused."""


@dataclass(frozen=True)
class SignedRequest:
    """What identifies one of Twilio's requests, beyond its fields."""

    signature: str  # X-Twilio-Signature: covers the URL (turn token included) and the fields
    idempotency_token: str  # I-Twilio-Idempotency-Token: the same on Twilio's retries
    turn: str | None  # the URL's turn token (None on the first request of a call)


@dataclass
class OnceOnly:
    flow: CallFlow
    # The answers being worked out, by signature: Twilio's retry of one waits for it.
    _in_progress: dict[str, asyncio.Future[str]] = field(default_factory=dict, init=False)

    async def handle(
        self, step: str, params: Mapping[str, str], request: SignedRequest
    ) -> str:
        """The TwiML answering one of Twilio's requests (signature already checked), once.

        Raises :class:`Replayed` for a copy of a request already answered.
        """
        sid = params.get("CallSid", "")
        seen = self.flow.calls.seen(request.signature, request.idempotency_token)
        if step in CALL_STEPS and self.flow.calls.has_ended(sid):
            return _xml(twiml.hang_up())
        if seen is Seen.REPLAY:
            raise Replayed(step)
        if step == "whisper":
            return _xml(await self.flow.whisper(params))
        call = self.flow.calls.get(sid)
        if call is not None and request.turn != call.turn and seen is Seen.FIRST:
            raise Replayed(step)  # from an earlier turn (its signature since forgotten)
        if step == "wait":
            return _xml(await self.flow.wait(params))
        if seen is Seen.RETRY:
            return await self._answer_again(call, request.signature)
        if call is not None:
            call.turn = new_turn()  # before any wait: a second copy now finds a stale turn
        answering: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._in_progress[request.signature] = answering
        try:
            answer = await self._turn(step, params, request.turn)
        except Exception:
            answering.set_result(_xml(self.flow.technical_problem()))
            raise
        finally:
            self._in_progress.pop(request.signature, None)
        call = self.flow.calls.get(sid)
        again = _xml(answer)
        if call is not None:
            if call.reading_password:  # a retry hears how to get it again, never the password
                again = _xml(self.flow.password_offer(call))
            call.answered_request, call.answer_again = request.signature, again
        answering.set_result(again)
        return _xml(answer)

    async def _answer_again(self, call: Call | None, signature: str) -> str:
        in_progress = self._in_progress.get(signature)
        if in_progress is not None:
            return await asyncio.shield(in_progress)
        if call is not None and call.answered_request == signature:
            return call.answer_again
        raise Replayed("an earlier turn")  # Twilio retries only its latest request

    async def _turn(
        self, step: str, params: Mapping[str, str], turn: str | None
    ) -> VoiceResponse:
        if step == "voice":
            return await self.flow.voice(params, turn)
        if step == "after_queue":
            return await self.flow.after_queue(params)
        return await self.flow.after_dial(params)

    def status_request(
        self, params: Mapping[str, str], request: SignedRequest
    ) -> CaseStatus | None:
        """The status callback, once: a copy of it is :class:`Replayed`; for a call that has
        already ended it changes nothing."""
        sid = params.get("CallSid", "")
        seen = self.flow.calls.seen(request.signature, request.idempotency_token)
        if self.flow.calls.has_ended(sid):
            return None
        if seen is Seen.REPLAY:
            raise Replayed("status")
        return self.flow.status(params)


def _xml(response: VoiceResponse) -> str:
    return str(response.to_xml())
