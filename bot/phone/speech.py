"""Text written for the ear: the assistant's chat wording made speakable, IDs and passwords spelt.

The dialogue already words the reset steps for the phone; other replies may still carry chat
formatting, so :func:`for_the_ear` removes markdown, numbered-list markers, web addresses and
"click" before anything is spoken. Device IDs are read back in the chunks printed on the label,
one character at a time; a temporary password is read slowly, letters spelt with a word.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from bot.devices.formats import DeviceIdFormats
from bot.phone.content import EarWording, PhoneContent
from bot.phone.spoken import hear

# English's, for text with no call (phone.yml's ``for_the_ear`` and ``email_words``).
ENGLISH_EAR = EarWording(web_address="the Lorex website", then="then")
ENGLISH_EMAIL_WORDS: Mapping[str, tuple[str, ...]] = {
    "@": ("at",), ".": ("dot", "period"), "_": ("underscore",), "-": ("dash", "hyphen")
}

_URL = re.compile(r"https?://\S+|www\.\S+|\b[\w-]+\.(?:com|ca|net|org)\b\S*", re.IGNORECASE)
_LIST_MARKER = re.compile(r"^\s*(?:\d+[.)]|[-*\u2022])\s+", re.MULTILINE)
_MARKUP = re.compile(r"\*\*|__|[*_`#|<>\[\]()\"\u201c\u201d]")
_MENU_ARROW = re.compile(r"\s*>\s*")
_CLICK = re.compile(r"\b(right-|double-)?click(s|ed|ing)?\b", re.IGNORECASE)
_SPACES = re.compile(r"[ \t]+")
# Codes a synthesiser would read as words or big numbers: a Device ID chunk ("ND48"), a case code
# ("LX-JCRD9K"), a phone number. Capitals and digits with at least one digit, 3 or more long.
_CODE = re.compile(r"\b(?=[A-Z0-9-]*\d)[A-Z0-9](?:[A-Z0-9-]*[A-Z0-9]){2,}\b")


def for_the_ear(text: str, ear: EarWording = ENGLISH_EAR) -> str:
    """``text`` fit to be spoken: no markdown, list markers, URLs or "click", codes spelt
    character by character; one paragraph. ``ear``: the words put in, in the call's language."""
    text = _URL.sub(ear.web_address, text)
    text = _LIST_MARKER.sub("", text)
    text = _MENU_ARROW.sub(f", {ear.then} ", text)
    text = _MARKUP.sub("", text)
    text = _CLICK.sub(lambda m: "press the right mouse button" if m.group(1) else "select", text)
    text = _CODE.sub(lambda m: " ".join(m.group(0).replace("-", "")), text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    sentences = [line if line[-1] in ".?!:" else line + "." for line in lines]
    return _SPACES.sub(" ", " ".join(sentences)).strip()


def read_back(device_id: str, formats: DeviceIdFormats, content: PhoneContent) -> str:
    """``ND48 1027 3945 KXQ`` as "N D 4 8, 1 0 2 7, ..." so the synthesiser says each character."""
    chunks = formats.group(device_id).split()
    return content.device_id.chunk_pause.join(" ".join(chunk) for chunk in chunks)


def spell_character(char: str, content: PhoneContent) -> str:
    wording = content.password
    if char.isdigit():
        return wording.digit.format(digit=char)
    if char.isalpha():
        template = wording.letter if char.isupper() else wording.lower_letter
        word = content.spelling_words.get(char.upper(), char.upper())
        return template.format(letter=char.upper(), word=word)
    name = content.symbol_names.get(char, "symbol")
    return wording.symbol.format(name=name)


def spell_password(password: str, content: PhoneContent) -> list[str]:
    """One phrase per character, to be spoken with a pause between each."""
    return [spell_character(char, content) for char in password]


def written_email(
    speech: str, words: Mapping[str, tuple[str, ...]] = ENGLISH_EMAIL_WORDS
) -> str:
    """An email address said aloud, written: "dana dot w at example dot com" is
    "dana.w@example.com" (``words``: each symbol's words in the call's language, "punto",
    "arroba", "tiret bas" ...). Words around it stay separate; a transcript that already has an
    @ is returned as it is."""
    if "@" in speech:
        return speech
    phrases = sorted(
        ((tuple(word.lower().split()), symbol) for symbol, said in words.items() for word in said),
        key=lambda phrase: -len(phrase[0]),
    )
    spoken, tokens = speech.split(), []
    index = 0
    while index < len(spoken):
        lowered = tuple(word.lower() for word in spoken[index:])
        for phrase, symbol in phrases:
            if lowered[: len(phrase)] == phrase:
                tokens.append(symbol)
                index += len(phrase)
                break
        else:
            tokens.append(spoken[index])
            index += 1
    if "@" not in tokens:
        return speech
    written = ""
    for index, token in enumerate(tokens):
        glued = token in words or (index > 0 and tokens[index - 1] in words)
        written += token if glued or not written else " " + token
    return written


def written_number(digits: str) -> str:
    """A phone number heard as digits, grouped the North American way when it has 10 or 11."""
    if len(digits) == 10:
        return f"{digits[:3]} {digits[3:6]} {digits[6:]}"
    if len(digits) == 11 and digits.startswith("1"):
        return f"+1 {digits[1:4]} {digits[4:7]} {digits[7:]}"
    return digits


_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")


def without_repeats(sayings: list[str]) -> list[str]:
    """``sayings`` with each sentence said once: several messages of one answer may each end with
    the same sentence ("Please stay on the line."); a repeat is dropped, and a saying left empty
    goes with it. Sentences are compared without case, spaces or punctuation."""
    said: set[str] = set()
    kept: list[str] = []
    for saying in sayings:
        sentences = []
        for sentence in _SENTENCE_END.split(saying.strip()):
            key = "".join(c for c in sentence.lower() if c.isalnum())
            if key and key in said:
                continue
            said.add(key)
            sentences.append(sentence)
        if any(s.strip() for s in sentences):
            kept.append(" ".join(sentences))
    return kept


def says(text: str, phrases: tuple[str, ...]) -> bool:
    """Whether ``text`` (what the caller said) contains one of ``phrases`` as whole words, case
    aside."""
    cleaned = "".join(c if c.isalnum() or c == "'" else " " for c in text.lower())
    words = " " + " ".join(cleaned.split()) + " "
    return any(f" {phrase} " in words for phrase in phrases)


def says_only(text: str, phrases: tuple[str, ...], *, other_words: int = 2) -> bool:
    """Whether ``text`` is one of ``phrases`` with at most ``other_words`` words around it ("um,
    give me a minute please"), not a sentence that goes on to ask something ("hang on, what was
    the password again?")."""
    if not says(text, phrases):
        return False
    cleaned = " " + " ".join(
        "".join(c if c.isalnum() or c == "'" else " " for c in text.lower()).split()
    ) + " "
    for phrase in phrases:
        cleaned = cleaned.replace(f" {phrase} ", " ")
    return len(cleaned.split()) <= other_words


def yes_or_no(content: PhoneContent, speech: str, digits: str) -> bool | None:
    """The caller's answer to a yes/no question: True, False, or None (neither, or both)."""
    yes = digits == content.yes_key or says(speech, content.yes_words)
    no = digits == content.no_key or says(speech, content.no_words)
    return None if yes == no else yes


# Where speech is written as typed: an email address, a phone number (a returning owner's proof
# may be either).
EMAIL_KINDS = frozenset({"owner_email", "case_proof"})
NUMBER_KINDS = frozenset({"owner_phone", "case_proof"})


def written_as_typed(speech: str, prompt_kind: str, content: PhoneContent) -> str:
    """Speech as the dialogue expects it typed, where the assistant expects an email address
    or a phone number ("dana at example dot com", "four one six five five five ...")."""
    if prompt_kind in EMAIL_KINDS:
        written = written_email(speech, content.email_words)
        if written != speech:
            return written
    if prompt_kind in NUMBER_KINDS:
        digits = "".join(piece.heard for piece in hear(speech, content).pieces)
        if digits.isdigit() and 7 <= len(digits) <= 15:
            return written_number(digits)
    return speech
