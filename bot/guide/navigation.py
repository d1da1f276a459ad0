"""Moving through the procedure: done (NEXT), back, repeat, stuck (HELP).

:func:`navigate` is a pure function of the procedure, where the owner is, and what they asked
for; the dialogue keeps the step number and the number of tips given in its own state (slots) and
passes them back in on the next turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from bot.guide.wording import Channel, Wording, check_channel

if TYPE_CHECKING:
    from bot.guide.procedure import Procedure, Step


class Navigation(str, Enum):
    START = "start"  # begin at step 1 (also: start over)
    NEXT = "next"  # "done": the current step is done
    BACK = "back"
    REPEAT = "repeat"
    HELP = "help"  # "stuck": the next tip for the current step


@dataclass(frozen=True)
class GuideTurn:
    """What the guide says after one move, and where the owner is now."""

    step_number: int | None  # None once the procedure is finished
    finished: bool
    tips_given: int  # tips given for the step now current: store it for the next HELP
    picture: str | None = None  # the current step's illustration (web widget)
    # True on the step where the owner types the new password (on the recorder, never here)
    sensitive_input: bool = False
    notice: Wording | None = None  # e.g. "This is already the first step."
    header: Wording | None = None  # "Step 3 of 10: Log in"
    body: Wording | None = None  # the step's instruction, or the closing message
    tip: Wording | None = None  # HELP only: a tip, or the offer of an agent
    hint: Wording | None = None  # how to answer: done, back, repeat, stuck

    def parts(self, channel: Channel) -> list[str]:
        """The non-empty parts, in order, in ``channel``'s wording."""
        check_channel(channel)
        wordings = (self.notice, self.header, self.body, self.tip, self.hint)
        return [
            wording.for_channel(channel) for wording in wordings if wording is not None
        ]

    def render(self, channel: Channel) -> str:
        """One message: parts separated by blank lines in chat, by spaces on the phone."""
        separator = "\n\n" if check_channel(channel) == "chat" else " "
        return separator.join(self.parts(channel))


def navigate(
    procedure: Procedure,
    current_step: int | None,
    action: Navigation,
    tips_given: int = 0,
) -> GuideTurn:
    """Apply ``action`` at ``current_step`` (1-based; None before the start).

    ``tips_given`` is how many of the current step's tips were already given (the previous turn's
    :attr:`GuideTurn.tips_given`). Raises ValueError for a step the procedure does not have, for
    NEXT, BACK or HELP before the start, and for a negative ``tips_given``.
    """
    action = Navigation(action)
    if (
        isinstance(tips_given, bool)
        or not isinstance(tips_given, int)
        or tips_given < 0
    ):
        raise ValueError(
            f"tips_given must be a whole number of at least 0, not {tips_given!r}"
        )
    if current_step is not None:
        try:
            procedure.step(current_step)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"invalid current step {current_step!r}: {exc}") from None

    if action is Navigation.START or (
        action is Navigation.REPEAT and current_step is None
    ):
        return _show(procedure, 1)
    if current_step is None:
        raise ValueError(
            f"cannot {action.value} before the guide has started: use START"
        )

    if action is Navigation.NEXT:
        if current_step == procedure.total:
            return GuideTurn(
                step_number=None,
                finished=True,
                tips_given=0,
                body=procedure.wording("completed"),
            )
        return _show(procedure, current_step + 1)
    if action is Navigation.BACK:
        if current_step == 1:
            notice = procedure.wording("already_first_step")
            return _show(procedure, 1, tips_given=tips_given, notice=notice)
        return _show(procedure, current_step - 1)
    if action is Navigation.REPEAT:
        return _show(procedure, current_step, tips_given=tips_given)
    return _help(procedure, procedure.step(current_step), tips_given)


def _show(
    procedure: Procedure,
    number: int,
    tips_given: int = 0,
    notice: Wording | None = None,
) -> GuideTurn:
    step = procedure.step(number)
    return GuideTurn(
        step_number=step.number,
        finished=False,
        tips_given=tips_given,
        picture=step.picture,
        sensitive_input=step.sensitive_input,
        notice=notice,
        header=procedure.header(step),
        body=Wording(step.text, step.voice),
        hint=procedure.wording("navigation_hint"),
    )


def _help(procedure: Procedure, step: Step, tips_given: int) -> GuideTurn:
    if tips_given < len(step.tips):
        tip, given = step.tips[tips_given], tips_given + 1
    else:
        tip, given = procedure.wording("no_more_tips"), tips_given
    return GuideTurn(
        step_number=step.number,
        finished=False,
        tips_given=given,
        picture=step.picture,
        sensitive_input=step.sensitive_input,
        header=procedure.header(step),
        tip=tip,
        hint=procedure.wording("navigation_hint"),
    )


def go_to(procedure: Procedure, number: int) -> GuideTurn:
    """Straight to step ``number`` ("go to step 8", "back two steps"); ValueError if it has none."""
    procedure.step(number)
    return _show(procedure, number)
