"""What a speech reader makes of a transcript: the Device ID characters said, each with what a
recogniser could have confused it with (:mod:`bot.phone.spoken` for English,
:mod:`bot.phone.spelling` for the other languages)."""

from __future__ import annotations

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
