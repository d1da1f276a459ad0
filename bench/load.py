"""The load client: simulated users holding whole conversations over a channel, with asyncio.

Each simulated user draws a script (``bench/scripts.py``), opens a conversation with a fresh
sender, and sends each turn once the previous answer has arrived. Chat users send at once (a
closed loop: no think time, so the figures show what the server sustains, and the stock bot gets
the same load). Phone callers answer at a caller's pace (:func:`caller_seconds`): Twilio posts
a call's next webhook only once the caller has spoken or keyed the answer. Latency is what the
client sees for one turn on loopback: from sending the message to having every reply of that turn.

A warm-up comes first. Every turn in progress during the measuring window is timed: those that
begin in it, and those that began in the warm-up but were still waiting for their answer when the
window opened. Counting only the turns that begin in the window would leave out the users a
server keeps waiting longest: the stock bot, with 50 conversations opened at once, left about
half of them waiting over 20 s for their first answer while it answered the others (measured
2026-11-30: with no warm-up, its p95 was 22 s), and those waits fell wholly outside such a
count. Throughput is the turns answered inside the window, divided by it. A turn whose answer
fails (HTTP error, time-out, dropped connection) is an error and ends that conversation; an
answer without the text the script expects is counted as unexpected (it is still timed).

Channels: :class:`RestChannel` (``POST /webhooks/rest/webhook``), :class:`SocketIOChannel`
(socket.io, long-polling: the websocket transport does not work with the aiohttp Rasa pins) and
:class:`PhoneChannel` (Twilio's voice webhook, signed form posts answered with TwiML). A channel
is anything with ``open(sender, script) -> Conversation``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
import numpy as np

from bench.scripts import Script, ScriptSource
from bench.servers import PhoneWebhook

TURN_TIMEOUT_S = 60.0
# socket.io: once a turn's first reply is in, how long to wait for each of the others.
REPLY_GAP_S = 10.0
CLOSE_TIMEOUT_S = 40.0
MAX_EXAMPLES = 5


class Conversation(Protocol):
    async def say(self, text: str, turn_index: int) -> list[dict[str, Any]]: ...

    async def close(self) -> None: ...


class Channel(Protocol):
    name: str
    # Users start within this many seconds of each other (calls do not all ring at once).
    start_spread_s: float

    def pause_before(self, text: str, turn_index: int) -> float:
        """Seconds between an answer and the user's next turn (``text``)."""
        ...

    async def open(self, sender: str, script: Script) -> Conversation: ...

    async def aclose(self) -> None: ...


class TurnFailed(Exception):
    """The server did not answer a turn properly (status, time-out, missing replies)."""


class _RestConversation:
    def __init__(self, session: aiohttp.ClientSession, url: str, sender: str, keyed: bool) -> None:
        self._session, self._url, self._sender, self._keyed = session, url, sender, keyed

    async def say(self, text: str, turn_index: int) -> list[dict[str, Any]]:
        # A fresh key per message, as the widget sends one (the server's Idempotency-Key).
        headers = {"Idempotency-Key": uuid.uuid4().hex} if self._keyed else {}
        async with self._session.post(
            self._url, json={"sender": self._sender, "message": text}, headers=headers
        ) as response:
            if response.status != 200:
                body = (await response.text())[:200]
                raise TurnFailed(f"HTTP {response.status}: {body}")
            replies: list[dict[str, Any]] = await response.json()
            return replies

    async def close(self) -> None:
        return None


class RestChannel:
    """Rasa's REST channel; one HTTP connection pool shared by every simulated user.
    ``idempotency_keys``: each message carries a fresh ``Idempotency-Key`` header."""

    name = "REST"
    start_spread_s = 0.1

    def __init__(self, base_url: str, *, idempotency_keys: bool = False) -> None:
        self._url = f"{base_url}/webhooks/rest/webhook"
        self._keyed = idempotency_keys
        self._session: aiohttp.ClientSession | None = None

    def pause_before(self, text: str, turn_index: int) -> float:
        return 0.0

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0),
                timeout=aiohttp.ClientTimeout(total=TURN_TIMEOUT_S),
            )
        return self._session

    async def open(self, sender: str, script: Script) -> Conversation:
        return _RestConversation(self._client(), self._url, sender, self._keyed)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _SocketIOConversation:
    def __init__(self, client: Any, session_id: str, counts: Sequence[int]) -> None:
        self._client = client
        self._session_id = session_id
        self._counts = counts
        self.received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def say(self, text: str, turn_index: int) -> list[dict[str, Any]]:
        while not self.received.empty():  # anything left over from the turn before
            self.received.get_nowait()
        await self._client.emit("user_uttered", {"message": text, "session_id": self._session_id})
        wanted = self._counts[turn_index] if turn_index < len(self._counts) else 1
        try:
            replies = [await asyncio.wait_for(self.received.get(), TURN_TIMEOUT_S)]
        except asyncio.TimeoutError as exc:
            raise TurnFailed(f"no reply within {TURN_TIMEOUT_S:.0f} s") from exc
        while len(replies) < wanted:
            try:
                replies.append(await asyncio.wait_for(self.received.get(), REPLY_GAP_S))
            except asyncio.TimeoutError as exc:
                raise TurnFailed(
                    f"{len(replies)} of the {wanted} replies this turn gets over REST "
                    f"(none more within {REPLY_GAP_S:.0f} s)"
                ) from exc
        return replies

    async def close(self) -> None:
        # Says goodbye to the server but does not wait for the pending long-poll to return
        # (up to the server's 25 s ping interval), which a plain disconnect() does.
        await self._client.eio.disconnect(abort=True)


class SocketIOChannel:
    """The web chat's socket.io channel with session persistence (``session_request`` first).

    socket.io does not say when a turn's answer is complete, so each turn waits for as many
    ``bot_uttered`` events as the same turn of the same script produced over REST
    (``reply_counts``, measured just before the load by :func:`reply_counts`).
    """

    name = "socket.io"
    start_spread_s = 0.1

    def pause_before(self, text: str, turn_index: int) -> float:
        return 0.0

    def __init__(self, base_url: str, reply_counts: dict[str, list[int]]) -> None:
        self._url = base_url
        self._counts = reply_counts

    async def open(self, sender: str, script: Script) -> Conversation:
        import socketio  # type: ignore[import-untyped]

        client = socketio.AsyncClient(reconnection=False)
        conversation = _SocketIOConversation(client, sender, self._counts.get(script.name, []))
        confirmed: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def on_confirm(session_id: str) -> None:
            if not confirmed.done():
                confirmed.set_result(session_id)

        client.on("bot_uttered", conversation.received.put_nowait)
        client.on("session_confirm", on_confirm)
        try:
            await client.connect(
                self._url,
                socketio_path="/socket.io",
                transports=["polling"],
                wait_timeout=TURN_TIMEOUT_S,  # the default (1 s) is too short under load
            )
            await client.emit("session_request", {"session_id": sender})
            await asyncio.wait_for(confirmed, TURN_TIMEOUT_S)
        except BaseException:
            await client.disconnect()
            raise
        return conversation

    async def aclose(self) -> None:
        return None


PHONE_TO = "+18885550000"  # the assistant's number, as Twilio posts it


def phone_fields(text: str) -> dict[str, str]:
    """What Twilio posts for one answer to a ``<Gather>``, written the way the phone scripts
    write a turn (as ``bot/phone/simulator.py`` reads a line): ``press 1#`` is keys (``Digits``),
    an empty string is silence (no result), anything else is a speech transcript."""
    line = text.strip()
    if line.lower().startswith("press "):
        return {"Digits": line[len("press ") :].replace(" ", "")}
    if not line:
        return {}
    return {"SpeechResult": line, "Confidence": "0.91"}


# A quick caller's pace. Our <Gather>s let the caller talk over the prompt (bargeIn), so the
# caller is taken to answer without listening to it to the end: the most webhooks a call makes.
CALLER_REACTION_S = 1.0
SPOKEN_WORD_S = 0.4  # 150 words a minute
END_OF_SPEECH_S = 1.0  # speechTimeout="auto": Twilio waits for a pause before it posts
KEY_PRESS_S = 0.3


def caller_pace() -> dict[str, float]:
    """The pace above, for the report."""
    return {
        "reaction_s": CALLER_REACTION_S,
        "spoken_word_s": SPOKEN_WORD_S,
        "end_of_speech_s": END_OF_SPEECH_S,
        "key_press_s": KEY_PRESS_S,
        "start_spread_s": PhoneChannel.start_spread_s,
    }


def caller_seconds(text: str, silence_s: float) -> float:
    """From one TwiML answer to the webhook that answers its ``<Gather>``, for a turn written as
    :func:`phone_fields` reads it: silence lasts the ``<Gather>``'s time-out (``silence_s``)."""
    fields = phone_fields(text)
    if "Digits" in fields:
        return CALLER_REACTION_S + KEY_PRESS_S * len(fields["Digits"])
    if "SpeechResult" in fields:
        words = len(fields["SpeechResult"].split())
        return CALLER_REACTION_S + SPOKEN_WORD_S * words + END_OF_SPEECH_S
    return silence_s


def spoken_replies(twiml: str) -> list[dict[str, Any]]:
    """A TwiML answer as messages: one per ``<Say>`` (inside ``<Gather>`` too), in order, and
    one per verb that ends the turn (``[enqueue]``, ``[hangup]``...), so a script can expect it."""
    root = ET.fromstring(twiml) if twiml.strip() else ET.Element("Response")
    replies: list[dict[str, Any]] = []
    for element in root.iter():
        if element.tag == "Say":
            replies.append({"text": element.text or ""})
        elif element.tag in ("Enqueue", "Dial", "Hangup", "Redirect", "Leave"):
            replies.append({"text": f"[{element.tag.lower()}]"})
    return replies


class _PhoneConversation:
    """One call: a fresh ``CallSid`` and caller number, every request signed like Twilio's."""

    def __init__(
        self, session: aiohttp.ClientSession, base_url: str, webhook: PhoneWebhook, caller: str
    ) -> None:
        from twilio.request_validator import RequestValidator

        self._session = session
        self._base_url = base_url
        self._public = webhook.public_base_url.rstrip("/")
        self._validator = RequestValidator(webhook.token)
        self._fields = {
            "AccountSid": "AC" + uuid.uuid4().hex,
            "ApiVersion": "2010-04-01",
            "CallSid": "CA" + uuid.uuid4().hex,
            "Direction": "inbound",
            "From": caller,
            "To": PHONE_TO,
            "CallerCountry": "US",
            "CallerZip": "",  # Twilio sends some fields blank, and signs them too
        }
        self._turn = ""  # the query (turn token) of the URLs the last answer named

    async def post(self, path: str, fields: dict[str, str]) -> str:
        form = {**self._fields, **fields}
        signature = self._validator.compute_signature(self._public + path, form)
        async with self._session.post(
            self._base_url + path, data=form, headers={"X-Twilio-Signature": signature}
        ) as response:
            body = await response.text()
            if response.status not in (200, 204):  # the status callback answers 204
                raise TurnFailed(f"HTTP {response.status}: {body[:200]}")
            return body

    async def say(self, text: str, turn_index: int) -> list[dict[str, Any]]:
        from bot.phone.twiml import PATHS

        # The call coming in is the first request; every later one answers a <Gather>, with the
        # turn token its URL carries, as Twilio posts it.
        status = {"CallStatus": "ringing" if turn_index == 0 else "in-progress"}
        fields = status if turn_index == 0 else {**status, **phone_fields(text)}
        body = await self.post(PATHS["voice"] + self._turn, fields)
        actions = [e.get("action", "") for e in ET.fromstring(body).iter()] if body.strip() else []
        turns = [urlsplit(action).query for action in actions if "turn=" in action]
        self._turn = f"?{turns[0]}" if turns else self._turn
        return spoken_replies(body)

    async def close(self) -> None:
        """The caller hangs up: Twilio's status callback (a case still waiting is abandoned)."""
        from bot.phone.twiml import PATHS

        await self.post(PATHS["status"], {"CallStatus": "completed", "CallDuration": "60"})


class PhoneChannel:
    """The phone channel's Twilio webhook: each simulated user is one call, each turn one signed
    ``POST /webhooks/phone/voice`` (``SpeechResult`` or ``Digits``) answered with TwiML.

    The first turn of a phone script is the call coming in (its text is not sent: Twilio posts
    no speech then). Each later turn comes :func:`caller_seconds` after the previous answer, as
    a call's webhooks do. Latency is from sending the request to having the whole TwiML answer;
    on loopback that is the server's time for the webhook (plus signing, microseconds).
    """

    name = "phone"
    start_spread_s = 3.0

    def __init__(self, base_url: str, webhook: PhoneWebhook) -> None:
        from bot.phone.content import load_phone_content

        self._base_url = base_url
        self._webhook = webhook
        self._session: aiohttp.ClientSession | None = None
        self._callers = 0
        # The shortest time Twilio waits for an answer before it posts silence.
        self._silence_s = float(load_phone_content().timeout)

    def pause_before(self, text: str, turn_index: int) -> float:
        # The first turn is the call coming in: nothing to answer yet.
        return 0.0 if turn_index == 0 else caller_seconds(text, self._silence_s)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0),
                timeout=aiohttp.ClientTimeout(total=TURN_TIMEOUT_S),
            )
        return self._session

    async def open(self, sender: str, script: Script) -> Conversation:
        self._callers += 1
        caller = f"+1416555{self._callers % 10000:04d}"  # a different number for each call
        return _PhoneConversation(self._client(), self._base_url, self._webhook, caller)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def reply_counts(
    base_url: str, sources: Sequence[ScriptSource], seed: int
) -> dict[str, list[int]]:
    """How many messages each turn of each script gets, from one REST conversation per script."""
    rest = RestChannel(base_url)
    counts: dict[str, list[int]] = {}
    try:
        for index, source in enumerate(sources):
            script = source(random.Random(seed + index))
            conversation = await rest.open(f"bench-calibrate-{uuid.uuid4().hex[:10]}", script)
            counts[script.name] = [
                len(await conversation.say(turn.text, i)) for i, turn in enumerate(script.turns)
            ]
    finally:
        await rest.aclose()
    return counts


@dataclass
class LoadResult:
    """One load level: a bot, a channel, a number of concurrent conversations."""

    bot: str
    channel: str
    concurrency: int
    duration_s: float
    latencies_ms: list[float] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    answered_in_window: int = 0
    errors: int = 0
    unexpected: int = 0
    conversations: int = 0
    error_examples: list[str] = field(default_factory=list)
    unexpected_examples: list[str] = field(default_factory=list)

    @property
    def turns(self) -> int:
        return len(self.latencies_ms)

    @property
    def throughput(self) -> float:
        """Answered turns per second inside the measuring window."""
        return self.answered_in_window / self.duration_s if self.duration_s else 0.0

    def percentile(self, q: float) -> float | None:
        if not self.latencies_ms:
            return None
        return float(np.percentile(self.latencies_ms, q))

    def by_label(self) -> dict[str, tuple[int, float]]:
        """Turn type → (count, median ms)."""
        groups: dict[str, list[float]] = {}
        for label, ms in zip(self.labels, self.latencies_ms, strict=True):
            groups.setdefault(label, []).append(ms)
        return {label: (len(v), float(np.median(v))) for label, v in groups.items()}

    def summary(self) -> dict[str, Any]:
        return {
            "bot": self.bot,
            "channel": self.channel,
            "concurrency": self.concurrency,
            "duration_s": round(self.duration_s, 2),
            "turns": self.turns,
            "conversations": self.conversations,
            "throughput_turns_per_s": round(self.throughput, 2),
            "p50_ms": _round(self.percentile(50)),
            "p95_ms": _round(self.percentile(95)),
            "p99_ms": _round(self.percentile(99)),
            "errors": self.errors,
            "unexpected": self.unexpected,
            "error_examples": self.error_examples,
            "unexpected_examples": self.unexpected_examples,
            "median_ms_by_turn": {k: round(v[1], 1) for k, v in self.by_label().items()},
        }


def combined(windows: Sequence[LoadResult]) -> LoadResult:
    """Several measuring windows of one bot, channel and level, as one: every timed turn, over
    the windows' total duration."""
    first = windows[0]
    merged = LoadResult(first.bot, first.channel, first.concurrency, 0.0)
    for window in windows:
        merged.duration_s += window.duration_s
        merged.latencies_ms += window.latencies_ms
        merged.labels += window.labels
        merged.answered_in_window += window.answered_in_window
        merged.errors += window.errors
        merged.unexpected += window.unexpected
        merged.conversations += window.conversations
        merged.error_examples += window.error_examples
        merged.unexpected_examples += window.unexpected_examples
    merged.error_examples = merged.error_examples[:MAX_EXAMPLES]
    merged.unexpected_examples = merged.unexpected_examples[:MAX_EXAMPLES]
    return merged


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _joined(replies: list[dict[str, Any]]) -> str:
    return "\n".join(str(reply.get("text") or "") for reply in replies)


async def run_load(
    *,
    bot: str,
    channel: Channel,
    sources: Sequence[ScriptSource],
    concurrency: int,
    warmup_s: float,
    duration_s: float,
    seed: int,
    at_window_edge: Callable[[], None] | None = None,
) -> LoadResult:
    """``concurrency`` simulated users for ``warmup_s + duration_s`` seconds; ``at_window_edge``
    is called as the measuring window opens and as it closes (to read the servers' CPU time)."""
    result = LoadResult(bot, channel.name, concurrency, duration_s)
    start = time.perf_counter()
    measure_from, measure_to = start + warmup_s, start + warmup_s + duration_s

    async def call_at(moment: float, action: Callable[[], None]) -> None:
        await asyncio.sleep(max(0.0, moment - time.perf_counter()))
        action()

    edges = [
        asyncio.create_task(call_at(moment, at_window_edge))
        for moment in (measure_from, measure_to)
        if at_window_edge is not None
    ]

    def note(examples: list[str], text: str) -> None:
        text = text[:300]
        if len(examples) < MAX_EXAMPLES and text not in examples:
            examples.append(text)

    async def user(number: int) -> None:
        rng = random.Random(seed * 1000 + number)
        # Spread the first messages instead of sending every one at once.
        await asyncio.sleep(rng.random() * channel.start_spread_s)
        while time.perf_counter() < measure_to:
            script = rng.choice(sources)(rng)
            sender = f"bench-{uuid.uuid4().hex[:12]}"
            try:
                conversation = await channel.open(sender, script)
            except Exception as exc:  # a refused connection must not stop the other users
                result.errors += 1
                note(result.error_examples, f"opening a conversation: {exc!r}")
                await asyncio.sleep(0.5)
                continue
            if time.perf_counter() >= measure_from:
                result.conversations += 1
            try:
                for index, turn in enumerate(script.turns):
                    pause = channel.pause_before(turn.text, index)
                    if pause:
                        await asyncio.sleep(pause)
                    began = time.perf_counter()
                    if began >= measure_to:
                        break
                    try:
                        replies = await asyncio.wait_for(
                            conversation.say(turn.text, index), TURN_TIMEOUT_S
                        )
                    except Exception as exc:
                        if time.perf_counter() >= measure_from:
                            result.errors += 1
                            note(result.error_examples, f"{turn.text!r}: {exc!r}")
                        break
                    ended = time.perf_counter()
                    if ended < measure_from:  # begun and answered in the warm-up
                        continue
                    if ended <= measure_to:
                        result.answered_in_window += 1
                    result.latencies_ms.append((ended - began) * 1000)
                    result.labels.append(turn.label)
                    text = _joined(replies)
                    if not replies or (turn.expect and turn.expect not in text):
                        result.unexpected += 1
                        note(
                            result.unexpected_examples,
                            f"{script.name} / {turn.text!r} → {text[:160]!r} "
                            f"(expected {turn.expect!r})",
                        )
            finally:
                # In the background: a long-polling socket.io client can take the server's
                # ping interval (25 s) to disconnect, and the user moves on at once.
                closing.add(asyncio.create_task(_close(conversation)))

    closing: set[asyncio.Task[None]] = set()
    try:
        await asyncio.gather(*(user(n) for n in range(concurrency)), *edges)
    finally:
        if closing:
            _, pending = await asyncio.wait(closing, timeout=CLOSE_TIMEOUT_S)
            for task in pending:
                task.cancel()
        await channel.aclose()
    return result


async def _close(conversation: Conversation) -> None:
    with contextlib.suppress(Exception):  # best effort: the server may already be gone
        await conversation.close()
