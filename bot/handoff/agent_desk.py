"""What an agent's click does, end to end: the case changes (:class:`SupportDesk`, in the
database) and the user's conversation follows (:class:`RasaBridge`, through the assistant).

The console calls these and shows the outcome; they never raise for a conversation that could not
be reached after the case changed: the change stands (it is in the audit trail) and the outcome
says what the user did not get, so the agent can act on it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot.agents.accounts import AgentView
from bot.cases.views import CaseView
from bot.handoff.desk import SupportDesk
from bot.handoff.rasa_bridge import (
    CASE_REJECTED,
    HANDED_BACK,
    PASSWORD_RELEASED,
    AssistantUnreachable,
    RasaBridge,
)
from bot.handoff.support_centre import load_support_centre

MAX_MESSAGE_LENGTH = 2000


@dataclass(frozen=True)
class Outcome:
    case: CaseView
    done: str  # what happened, for the agent
    problem: str | None = None  # what did not reach the user, if anything


class AgentDesk:
    def __init__(self, desk: SupportDesk, bridge: RasaBridge) -> None:
        self.desk = desk
        self.bridge = bridge

    async def claim(self, code: str, agent: AgentView) -> Outcome:
        case = await asyncio.to_thread(self.desk.claim, code, agent)
        return Outcome(case, f"You have case {case.code}.")

    async def put_back(self, code: str, agent: AgentView) -> Outcome:
        case = await asyncio.to_thread(self.desk.put_back, code, agent)
        return Outcome(case, f"Case {case.code} is back in the queue.")

    async def release(
        self,
        code: str,
        agent: AgentView,
        *,
        agent_input: str | None = None,
        releases_seen: int | None = None,
    ) -> Outcome:
        release = await asyncio.to_thread(
            self.desk.release,
            code,
            agent,
            agent_input=agent_input,
            releases_seen=releases_seen,
        )
        case = release.case
        done = (
            # Whether it reached the user is the delivery's to say (bot/handoff/delivery.py).
            "A new temporary password replaced the earlier one."
            if release.replaced_earlier
            else "The temporary password is released."
        )
        try:
            await self.bridge.deposit(
                case.conversation_id, release.reference, release.password, release.expires_at
            )
            await self.bridge.resume_with(
                case.conversation_id, PASSWORD_RELEASED, {"release_ref": release.reference}
            )
        except AssistantUnreachable as exc:
            return Outcome(
                case,
                "The release is recorded.",
                f"It did not reach the user ({exc}). Release again to send a new one.",
            )
        return Outcome(case, done)

    async def reject(self, code: str, agent: AgentView, reason_key: str, note: str = "") -> Outcome:
        rejection = await asyncio.to_thread(self.desk.reject, code, agent, reason_key, note)
        case = rejection.case
        try:
            await self.bridge.resume_with(
                case.conversation_id, CASE_REJECTED, {"rejection_reason": reason_key}
            )
        except AssistantUnreachable as exc:
            return Outcome(case, "The case is rejected.", f"The user was not told ({exc}).")
        return Outcome(case, f"Case {case.code} is rejected; the user was told why.")

    async def send_message(self, code: str, agent: AgentView, text: str) -> Outcome:
        text = text.strip()
        if not text:
            raise ValueError("Write a message first.")
        if len(text) > MAX_MESSAGE_LENGTH:
            raise ValueError(
                f"Messages are at most {MAX_MESSAGE_LENGTH} characters; this one has {len(text)}."
            )
        case = await asyncio.to_thread(self.desk.note_message, code, agent)
        try:
            await self.bridge.say(case.conversation_id, text, agent.display_name)
        except AssistantUnreachable as exc:
            return Outcome(case, "Not sent.", f"The message did not reach the user ({exc}).")
        return Outcome(case, "Message sent.")

    async def take_over(self, code: str, agent: AgentView) -> Outcome:
        case = await asyncio.to_thread(self.desk.take_over, code, agent)
        try:
            await self.bridge.pause(case.conversation_id)
            # In the conversation's language, as the assistant spoke it.
            greeting = load_support_centre(language=case.language).agent_greeting
            await self.bridge.say(
                case.conversation_id,
                greeting.format(agent=agent.display_name),
                agent.display_name,
            )
        except AssistantUnreachable as exc:
            return Outcome(case, "You have the chat.", f"The user was not told ({exc}).")
        return Outcome(case, "You are chatting with the user; the assistant waits.")

    async def hand_back(self, code: str, agent: AgentView) -> Outcome:
        case = await asyncio.to_thread(self.desk.hand_back, code, agent)
        try:
            await self.bridge.resume_with(case.conversation_id, HANDED_BACK)
        except AssistantUnreachable as exc:
            return Outcome(case, "Handed back.", f"The assistant did not resume ({exc}).")
        return Outcome(case, "The assistant has the chat again.")
