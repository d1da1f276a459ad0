"""How many user turns the Rasa server works on at once.

Rasa runs every turn as a task on one event loop (one core), and a turn lets the others run each
time it waits for the action server. Under a burst, each of those waits puts the rest of the turn
at the back of a queue holding every other turn in progress: a turn that calls the action server
twice waits in line three times, and the slowest turns were twice the median (``make bench``).
With only a few turns in progress, the core is just as busy (one turn computes while another
waits for the action server) and the others wait once, in the order they came, before they
start. Below the limit nothing changes.

A turn whose call to the action server takes longer than ``SLOW_CALL`` seconds (a call takes
milliseconds when all is well) gives its place to the next turn while it waits, and waits in
line for a place again once answered: an action server that hangs costs the turns that call it
the action-call timeout, and no one else a thing.

The chat and phone channels pass their turns through :func:`limit_turns`; ``RASA_TURNS_AT_ONCE``
sets the limit.

It is also where a message sent again (a client's retry, with the same key: its id starts with
``client:``) is processed once: :mod:`bot.cluster.turn_records`. A copy gets the first one's
replies again. A copy of a turn whose instance died looks in the conversation's history (Rasa's
tracker store) first: if the dialogue kept the message before the instance died, its replies are
taken from there, and it is not processed twice.

It is also where a turn that a part of the product failed (:mod:`bot.turn_failures`: a store
error, a failed or timed-out action call) is answered. The turn's replies are held back until it
ends, so a turn that fails half-way sends none of them; the user gets the "try again" message of
``data/content/faults.yml`` instead (or, on the phone, the channel speaks its own apology), and
the log one error line naming the part, without the user's text or the conversation id.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import traceback
import weakref
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal, TypeVar

from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.shared.core.events import BotUttered, UserUttered

from bot.channels.client import LANGUAGE_KEY
from bot.cluster.turn_records import Reply, TurnRecords, is_client_message_id
from bot.localisation import ENGLISH, LANGUAGES, language_or_none, load_localised
from bot.settings import DEFAULT_TURNS_AT_ONCE
from bot.turn_failures import TurnFailed, channel_turn, describe

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=UserMessage)
T = TypeVar("T")

# Seconds an action call may take before its turn gives its place to the next one.
SLOW_CALL = 1.0

_in_progress: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _semaphore(limit: int) -> asyncio.Semaphore:
    # One per event loop, shared by every channel of the server (tests run several loops).
    loop = asyncio.get_running_loop()
    semaphore = _in_progress.get(loop)
    if semaphore is None:
        semaphore = _in_progress[loop] = asyncio.Semaphore(limit)
    return semaphore


def limit_turns(
    handle: Callable[[M], Awaitable[Any]],
    *,
    at_once: int = DEFAULT_TURNS_AT_ONCE,
    failed_turn: Literal["answer", "raise"] = "answer",
    records: TurnRecords | None = None,
) -> Callable[[M], Awaitable[Any]]:
    """``handle`` (a channel's ``on_new_message``), run for at most ``at_once`` turns at once
    (``RASA_TURNS_AT_ONCE``; every channel of the server shares the same places).

    A turn that a part failed is answered with the "try again" message (``failed_turn="answer"``)
    or ends in :class:`TurnNotCompleted` (``"raise"``: for a channel with its own apology).
    With ``records``, a message with a client's key is processed once (see the module)."""
    limit = at_once
    try_again = {
        language: load_localised(FAULTS_FILE, language).require("turn_failed", str)
        for language in LANGUAGES
    }

    async def in_place(message: M, record: Callable[[list[Reply]], None] | None = None) -> Any:
        place = _Place(_semaphore(limit))
        await place.take()
        token = _current_place.set(place)
        try:
            return await _whole_turn(handle, message, try_again, failed_turn, record)
        finally:
            _current_place.reset(token)
            place.give_back()

    async def limited(message: M) -> Any:
        if records is None or not is_client_message_id(message.message_id):
            return await in_place(message)
        async with records.turn(message.sender_id, message.message_id) as turn:
            if turn.replies is not None:
                logger.info("A message sent again was answered with its first copy's replies.")
            elif turn.earlier_attempt:
                turn.replies = await _replies_kept_by_the_dialogue(message)
                if turn.replies is not None:
                    turn.finish(turn.replies)
                logger.info(
                    "A message whose first copy did not finish (its instance died) was %s.",
                    "answered from the history it was kept in"
                    if turn.replies is not None
                    else "not kept by then: processed now",
                )
            if turn.replies is not None:
                await send_again(turn.replies, message.output_channel)
                return None
            return await in_place(message, record=turn.finish)

    return limited


async def _replies_kept_by_the_dialogue(message: UserMessage) -> list[Reply] | None:
    """The replies the dialogue gave ``message``, if its tracker kept it (an instance died after
    saving the turn, before answering); None if it did not."""
    from sanic import Sanic
    from sanic.exceptions import SanicException

    try:
        agent = Sanic.get_app(RASA_APP).ctx.agent
    except (SanicException, AttributeError):
        return None
    tracker = await agent.tracker_store.retrieve(message.sender_id)
    if tracker is None:
        return None
    replies: list[Reply] | None = None
    for event in tracker.events:
        if isinstance(event, UserUttered):
            if replies is not None:
                break
            if event.message_id == message.message_id:
                replies = []
        elif replies is not None and isinstance(event, BotUttered):
            said = {"text": event.text, **{k: v for k, v in event.data.items() if v}}
            replies.append(
                {"method": "send_response", "args": [message.sender_id, said], "kwargs": {}}
            )
    return replies


async def send_again(replies: list[Reply], output: OutputChannel | None) -> None:
    """A recorded turn's replies, sent through ``output`` as they were the first time."""
    if output is None:
        return
    for reply in replies:
        method = reply.get("method")
        if method not in REPLAYABLE:  # the record comes from a shared store: only known calls
            logger.error("A recorded reply names an unknown output call; it was not sent")
            continue
        # A copy: Rasa's output channels change the messages they are given.
        call = copy.deepcopy(reply)
        await getattr(output, method)(*call.get("args", []), **call.get("kwargs", {}))


RASA_APP = "rasa_server"  # the Sanic app rasa.server creates


class _Place:
    """A turn's place among those the server works on at once, while it holds one."""

    def __init__(self, semaphore: asyncio.Semaphore) -> None:
        self._semaphore = semaphore
        self.held = False

    async def take(self) -> None:
        await self._semaphore.acquire()
        self.held = True

    def give_back(self) -> None:
        if self.held:
            self.held = False
            self._semaphore.release()


_current_place: ContextVar[_Place | None] = ContextVar("lorex_turn_place", default=None)


async def waiting_elsewhere(call: Awaitable[T]) -> T:
    """``call`` (to the action server), awaited; if it takes longer than ``SLOW_CALL``, the turn
    gives its place to the next one meanwhile and waits in line for one again afterwards."""
    place = _current_place.get()
    if place is None or not place.held:
        return await call
    task = asyncio.ensure_future(call)
    try:
        await asyncio.wait({task}, timeout=SLOW_CALL)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if task.done():
        return task.result()
    place.give_back()
    try:
        return await task
    finally:
        await place.take()


FAULTS_FILE = "faults.yml"


class TurnNotCompleted(Exception):
    """A turn ended by a failed part, for a channel that answers it itself."""


async def _whole_turn(
    handle: Callable[[M], Awaitable[Any]],
    message: M,
    try_again: dict[str, str],
    failed_turn: Literal["answer", "raise"],
    record: Callable[[list[Reply]], None] | None = None,
) -> Any:
    output = message.output_channel
    held = HeldReplies(output)
    message.output_channel = held
    try:
        with channel_turn():
            result = await handle(message)
    except TurnFailed as failure:
        part, reason = failure.part, failure.reason
    except Exception as error:
        # Not a part we know: the Rasa server's own code. Its message can quote the user's text
        # (a UnicodeEncodeError does), so only its kind and where it was raised are logged.
        part, reason = "the Rasa server", f"{describe(error)} at {_raised_at(error)}"
    else:
        if record is not None:  # before they are sent: a copy must find them
            record(held.recorded())
        await held.release()
        return result
    finally:
        message.output_channel = output
    logger.error(
        "A turn failed and was not kept (%s: %s); the user was asked to send it again.",
        part,
        reason,
    )
    if failed_turn == "raise":
        raise TurnNotCompleted(part)
    # In the client's language: the conversation's may be what failed to load.
    language = language_or_none((message.metadata or {}).get(LANGUAGE_KEY)) or ENGLISH
    await output.send_text_message(message.sender_id, try_again[language])
    return None


def _raised_at(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"


class HeldReplies(OutputChannel):
    """A turn's replies, held until the turn has ended well, then sent in order; whatever is
    sent once they are released (a reminder, say) goes straight through."""

    def __init__(self, output: OutputChannel) -> None:
        self.output = output
        self._held: list[tuple[str, tuple[Any, ...], dict[str, Any]]] | None = []

    def name(self) -> str:  # type: ignore[override]
        # The channel's name picks the response variations (``channel:`` in the domain).
        name: str = self.output.name()
        return name

    async def _send(self, method: str, *args: Any, **kwargs: Any) -> None:
        if self._held is None:
            await getattr(self.output, method)(*args, **kwargs)
        else:
            self._held.append((method, args, kwargs))

    def recorded(self) -> list[Reply]:
        """The held replies as JSON values, to be sent again to a copy of the turn."""
        calls = [
            {"method": method, "args": list(args), "kwargs": kwargs}
            for method, args, kwargs in self._held or []
        ]
        replies: list[Reply] = json.loads(json.dumps(calls, default=str))
        return replies

    async def release(self) -> None:
        held, self._held = self._held or [], None
        for method, args, kwargs in held:
            await getattr(self.output, method)(*args, **kwargs)

    # Every way Rasa's OutputChannel sends, each held as it was asked.
    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        await self._send("send_response", recipient_id, message)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self._send("send_text_message", recipient_id, text, **kwargs)

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self._send("send_image_url", recipient_id, image, **kwargs)

    async def send_attachment(self, recipient_id: str, attachment: str, **kwargs: Any) -> None:
        await self._send("send_attachment", recipient_id, attachment, **kwargs)

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self._send("send_text_with_buttons", recipient_id, text, buttons, **kwargs)

    async def send_quick_replies(
        self, recipient_id: str, text: str, quick_replies: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self._send("send_quick_replies", recipient_id, text, quick_replies, **kwargs)

    async def send_elements(
        self, recipient_id: str, elements: Iterable[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self._send("send_elements", recipient_id, list(elements), **kwargs)

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        await self._send("send_custom_json", recipient_id, json_message, **kwargs)


# The output calls a recorded turn may make again: every one HeldReplies holds.
REPLAYABLE = frozenset(
    name for name in vars(HeldReplies) if name.startswith("send_") and name != "send_again"
)
