"""The reset steps on the recorder: done, back (N), go to step N, repeat, stuck,
"I'm done" at any step."""

from __future__ import annotations

from dataclasses import replace

from bot.dialogue import support
from bot.dialogue.reply import Reply
from bot.dialogue.state import Conversation, OfferReason
from bot.dialogue.turn import Turn
from bot.dialogue.understanding import Heard
from bot.guide.navigation import Navigation, go_to, navigate

MOVES = {
    "step_done": Navigation.NEXT,
    "affirm": Navigation.NEXT,
    "repeat": Navigation.REPEAT,
    "step_help": Navigation.HELP,
}


def start(turn: Turn, conversation: Conversation, reply: Reply) -> None:
    """The owner has a temporary password (from us or elsewhere): step 1."""
    conversation.return_state = None
    support.show_step(
        turn, conversation, reply, navigate(turn.services.procedure, None, Navigation.START)
    )


def answer(turn: Turn, conversation: Conversation, reply: Reply, heard: Heard) -> bool:
    """Navigation at a step; False when the message is not navigation."""
    procedure = turn.services.procedure
    step = conversation.reset_step or 1
    if heard.is_("affirm", "step_done") and "?" in heard.text:
        # "ok did it come through?", "done?": a question, not the step done.
        return False
    if heard.intent in MOVES:
        guide = navigate(procedure, step, MOVES[heard.intent or ""], conversation.tips_given)
        if guide.tip == procedure.wording("no_more_tips"):
            # No tips left: the guide's message asks whether to pass the owner to a person.
            support.show_step(turn, conversation, reply, guide)
            support.offer_agent(conversation, reply, OfferReason.STEP_TIPS, None)
            return True
        support.show_step(turn, conversation, reply, guide)
        return True
    if heard.is_("go_back") and heard.step_named() and not heard.steps_back():
        # "go back to step two" names the step to go to, whichever of the two the NLU took it for.
        heard = replace(heard, intent="go_to_step")
    if heard.is_("go_back") or (heard.is_("go_to_step") and heard.steps_back()):
        # "go back 5 steps" is a move back, whichever of the two the NLU took it for.
        count = heard.steps_back() or heard.number() or 1
        if step == 1:  # "This is already the first step.", the step's tips kept
            guide = navigate(procedure, step, Navigation.BACK, conversation.tips_given)
        elif step - count < 1:  # "back two steps" from step 2: said plainly, then step 1
            guide = replace(go_to(procedure, 1), notice=procedure.wording("already_first_step"))
        else:
            guide = go_to(procedure, step - count)
        support.show_step(turn, conversation, reply, guide)
        return True
    if heard.is_("go_to_step"):
        target = procedure.total if heard.says_last() else heard.number()
        if target is None:
            reply.say("utter_no_such_step", total=procedure.total)
            reply.understood = False
            return True
        if not 1 <= target <= procedure.total:  # "go to step 15" of 10: the step is kept
            current = procedure.step(step)
            reply.say(
                "utter_only_so_many_steps",
                total=procedure.total,
                step=current.number,
                title=current.title,
            )
            return True
        support.show_step(turn, conversation, reply, go_to(procedure, target))
        return True
    if heard.is_("reset_complete"):
        support.show_step(
            turn, conversation, reply, navigate(procedure, procedure.total, Navigation.NEXT)
        )
        return True
    if heard.is_("deny"):
        reply.text(procedure.message("waiting", turn.wording))
        return True
    return False
