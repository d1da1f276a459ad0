"""What a speech reader makes of a transcript: the Device ID characters said, each with what a
recogniser could have confused it with (:mod:`bot.phone.spoken` for English,
:mod:`bot.phone.spelling` for the other languages)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Piece:
    """One character said: what was heard first, then what it might have been instead."""

    heard: str
    alternatives: tuple[str, ...] = ()

    @property
    def certain(self) -> bool:
        return not self.alternatives


@dataclass(frozen=True)
class Heard:
    """What one transcript held: the ID pieces, and whether it looked like an attempt at all."""

    pieces: tuple[Piece, ...]
    other_words: int  # words that are neither ID material nor filler

    @property
    def text(self) -> str:
        return "".join(piece.heard for piece in self.pieces)


@dataclass
class Token:
    """What a reader made of one or more words: ID pieces, and whether they are ID material on
    their own (strong) or only inside an ID (weak: "a", "for", "elle")."""

    pieces: list[Piece]
    strong: bool


def assemble(read: Sequence[tuple[str, Token | None]], filler: Collection[str]) -> Heard:
    """The ID in a transcript read word by word: from its first strong token to its last, with
    the weak tokens right beside it as optional pieces; other words counted."""
    strong = [i for i, (_, token) in enumerate(read) if token is not None and token.strong]
    if not strong:
        others = sum(1 for word, token in read if token is None and word not in filler)
        return Heard((), others + sum(1 for _, token in read if token is not None))
    first, last = strong[0], strong[-1]
    # A weak token right before or after the ID may belong to it ("um, A, Q ...", "elle a huit
    # ...") or not ("... 837 I think"): it is kept as optional, and the registry decides.
    edges = set()
    while first > 0 and read[first - 1][1] is not None:
        first -= 1
        edges.add(first)
    while last + 1 < len(read) and read[last + 1][1] is not None:
        last += 1
        edges.add(last)
    pieces: list[Piece] = []
    others = 0
    for position, (word, token) in enumerate(read):
        inside = first <= position <= last
        if token is not None and inside:
            if position in edges:
                pieces.extend(Piece(p.heard, (*p.alternatives, "")) for p in token.pieces)
            else:
                pieces.extend(token.pieces)
        elif word not in filler or (token is not None and not inside):
            others += 1
    return Heard(tuple(pieces), others)
