"""The conversation: one controller decides every assistant turn, in every state, on every channel.

:mod:`bot.dialogue.controller` is the entry point; the Rasa side is a policy that always calls one
action (:mod:`bot.dialogue.rasa_policy`, :mod:`actions.converse`).
"""
