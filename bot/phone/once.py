"""Each of Twilio's requests answered once, by whichever instance it reaches: the phone channel's
guard against replays, and where a call is loaded from and saved to its store.

Every answer's URLs carry a fresh turn token, and a call's next request must carry the latest
one, so a legitimate request never repeats a signature. A signature seen before (on any instance:
the store remembers it) is a copy (:class:`Replayed`), unless it brings the same
``I-Twilio-Idempotency-Token``: that is Twilio retrying a request it got no answer to. The retry
waits for the call's lock (:mod:`bot.phone.call_lock`) and gets the answer already given (where
that was the temporary password, only the offer to hear it again) with no new turn; if the first
attempt was never answered (its instance died before saving the call), the retry is answered in
its place. A request for a call that has ended gets a hang-up: an ended call never comes back,
and never opens a case.

A request of a call is served under the call's lock: the call is loaded, the flow works on it,
and it is saved with the answer. The wait URL, which Twilio asks again and again while the caller
is on hold, only reads the call. What a request means for the call is
:class:`bot.phone.flow.CallFlow`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from twilio.twiml.voice_response import VoiceResponse

from bot.cases.status import CaseStatus
from bot.phone import twiml
from bot.phone.call_lock import CallBusy, holding
from bot.phone.calls import Call, CallStore, Seen, new_turn
from bot.phone.flow import CallFlow

logger = logging.getLogger(__name__)

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

    @property
    def calls(self) -> CallStore:
        return self.flow.calls

    async def handle(
        self, step: str, params: Mapping[str, str], request: SignedRequest
    ) -> str:
        """The TwiML answering one of Twilio's requests (signature already checked), once.

        Raises :class:`Replayed` for a copy of a request already answered, and
        :class:`~bot.phone.call_lock.CallBusy` when the call's lock cannot be had in time.
        """
        sid = params.get("CallSid", "")
        seen = self.calls.seen(request.signature, request.idempotency_token)
        if step in CALL_STEPS and self.calls.has_ended(sid):
            return _xml(twiml.hang_up())
        if seen is Seen.REPLAY:
            raise Replayed(step)
        if step == "whisper":
            return _xml(await self.flow.whisper(params))
        if step == "wait":
            call = self.calls.get(sid)
            if call is not None and request.turn != call.turn and seen is Seen.FIRST:
                raise Replayed(step)  # from an earlier turn (its signature since forgotten)
            return _xml(await self.flow.wait(params, call))
        async with holding(self.calls, sid):
            call = self.calls.get(sid)
            if call is None and self.calls.has_ended(sid):  # ended while this one waited
                return _xml(twiml.hang_up())
            if seen is Seen.RETRY:
                if call is not None and call.answered_request == request.signature:
                    return call.answer_again
                if request.turn != (None if call is None else call.turn):
                    raise Replayed("an earlier turn")  # Twilio retries only its latest request
                # Its first attempt was never answered (the instance died): answered here.
            elif call is not None and request.turn != call.turn:
                raise Replayed(step)  # from an earlier turn (its signature since forgotten)
            if call is not None:
                call.turn = new_turn()  # the answer's URLs: the call's next request carries it
            answer, call = await self._turn(step, params, call, request, seen is Seen.RETRY)
            if call is not None:
                again = answer
                if call.reading_password:  # a retry hears how to get it again, never it
                    again = self.flow.password_offer(call)
                call.answered_request, call.answer_again = request.signature, _xml(again)
                if not self.calls.save(call):
                    # Ended meanwhile, or saved by a request that outlived this one's lock.
                    logger.warning("phone: a call changed while a request was answered (%s)", step)
            return _xml(answer)

    async def _turn(
        self,
        step: str,
        params: Mapping[str, str],
        call: Call | None,
        request: SignedRequest,
        retrying: bool,
    ) -> tuple[VoiceResponse, Call | None]:
        if step == "voice":
            return await self.flow.voice(params, call, request.turn, retrying=retrying)
        if step == "after_queue":
            return await self.flow.after_queue(params, call)
        return await self.flow.after_dial(params, call)

    async def status_request(
        self, params: Mapping[str, str], request: SignedRequest
    ) -> CaseStatus | None:
        """The status callback, once: a copy of it is :class:`Replayed`; for a call that has
        already ended it changes nothing. It waits for a request of the call being answered
        (for as long as a request may wait)."""
        sid = params.get("CallSid", "")
        seen = self.calls.seen(request.signature, request.idempotency_token)
        if self.calls.has_ended(sid):
            return None
        if seen is Seen.REPLAY:
            raise Replayed("status")
        try:
            async with holding(self.calls, sid):
                return self.flow.status(params)
        except CallBusy:
            # A request of the call holds on to it: the call ends all the same (that request's
            # save is then refused), rather than stay open until it expires.
            logger.warning("phone: a call ended while one of its requests was stuck")
            return self.flow.status(params)


def _xml(response: VoiceResponse) -> str:
    return str(response.to_xml())
