"""The spoken Device ID table (the phone issue's): transcripts as Twilio delivers them, and the
registered ID each must resolve to.

The generated half covers every registered ID in ``data/devices.csv`` in one of several speaking
styles (chosen by a fixed seed, so the table never changes between runs); the hand-written half
holds the tricky ones: recogniser confusions (B for D, M for N, nine for five), spelling words,
pairs and hundreds, letter names. ``tests/test_phone_spoken.py`` asserts every row; the benchmark
(``bench/understanding.py``) reports the exact-match rate over the same rows.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable, Iterator

from bot.content import DATA_DIR
from bot.devices.formats import load_formats

FORMATS = load_formats()
with open(DATA_DIR / "devices.csv", encoding="utf-8", newline="") as _stream:
    DEVICE_IDS = [row["device_id"] for row in csv.DictReader(_stream)]

DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
NATO_WORDS = {
    "A": "alpha", "B": "bravo", "C": "charlie", "D": "delta", "E": "echo", "F": "foxtrot",
    "G": "golf", "H": "hotel", "I": "india", "J": "juliet", "K": "kilo", "L": "lima",
    "M": "mike", "N": "november", "O": "oscar", "P": "papa", "Q": "quebec", "R": "romeo",
    "S": "sierra", "T": "tango", "U": "uniform", "V": "victor", "W": "whiskey", "X": "x-ray",
    "Y": "yankee", "Z": "zulu",
}
AS_IN_WORDS = {
    "A": "apple", "B": "boy", "C": "cat", "D": "David", "E": "Edward", "F": "Frank",
    "G": "George", "H": "Harry", "I": "igloo", "J": "John", "K": "king", "L": "Larry",
    "M": "Mary", "N": "Nancy", "O": "orange", "P": "Peter", "Q": "queen", "R": "Robert",
    "S": "Sam", "T": "Tom", "U": "umbrella", "V": "Victor", "W": "William", "X": "xylophone",
    "Y": "yellow", "Z": "zebra",
}
TENS_WORDS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty"]
TENS_WORDS.append("ninety")
TEENS_WORDS = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen"
FILLERS = ["", "um, ", "uh it's ", "okay so my device ID is ", "it is ", "um, the ID is "]


def _digit(char: str, oh: bool) -> str:
    return "oh" if char == "0" and oh else DIGIT_WORDS[int(char)]


def _pair(pair: str) -> str:
    """Two digits as a person says them in pairs: 48 forty eight, 10 ten, 07 oh seven."""
    if len(pair) == 1:
        return DIGIT_WORDS[int(pair)]
    first, second = int(pair[0]), int(pair[1])
    if first == 0:
        return f"oh {DIGIT_WORDS[second]}"
    if first == 1:
        return TEENS_WORDS.split()[second]
    if second == 0:
        return TENS_WORDS[first]
    return f"{TENS_WORDS[first]} {DIGIT_WORDS[second]}"


def _runs(device_id: str) -> Iterator[str]:
    start = 0
    for i in range(1, len(device_id) + 1):
        if i == len(device_id) or device_id[i] != device_id[start]:
            yield device_id[start:i]
            start = i


def _say(device_id: str, style: int, rng: random.Random) -> str:
    letter_styles: dict[int, Callable[[str], str]] = {
        0: lambda c: c,
        1: lambda c: NATO_WORDS[c],
        2: lambda c: f"{c} as in {AS_IN_WORDS[c]}",
        3: lambda c: f"{c} for {AS_IN_WORDS[c]}",
    }
    if style == 4:  # as printed on the label, in groups
        return FORMATS.group(device_id)
    if style == 5:  # double / triple for repeated characters
        words = []
        for run in _runs(device_id):
            say = NATO_WORDS[run[0]] if run[0].isalpha() else _digit(run[0], oh=True)
            if len(run) == 1:
                words.append(say)
            elif len(run) == 2:
                words.append(f"double {say}")
            elif len(run) == 3:
                words.append(f"triple {say}")
            else:
                words.extend([say] * len(run))
        return " ".join(words)
    if style == 6:  # digits in pairs, letters NATO
        letters = "".join(c for c in device_id if c.isalpha())
        digits = "".join(c for c in device_id if c.isdigit())
        lead = device_id.index(digits[0])
        head = " ".join(NATO_WORDS[c] for c in letters[:lead])
        pairs = [_pair(digits[i : i + 2]) for i in range(0, len(digits), 2)]
        tail = " ".join(NATO_WORDS[c] for c in letters[lead:])
        return " ".join(part for part in (head, ", ".join(pairs), tail) if part)
    say_letter = letter_styles[style % 4]
    oh = rng.random() < 0.5
    return ", ".join(
        say_letter(c) if c.isalpha() else _digit(c, oh) for c in device_id
    )


def generated_table() -> list[tuple[str, str]]:
    rng = random.Random(20261125)
    table = []
    for index, device_id in enumerate(DEVICE_IDS):
        style = index % 7
        table.append((rng.choice(FILLERS) + _say(device_id, style, rng), device_id))
    return table


GENERATED = generated_table()

# (transcript, expected Device ID) written by hand: what real callers and recognisers do.
HAND_WRITTEN: list[tuple[str, str]] = [
    ("N D 4 8 1 0 2 7 3 9 4 5 K X Q", "ND4810273945KXQ"),
    ("ND48 1027 3945 KXQ", "ND4810273945KXQ"),
    ("nd48 1027 3945 kxq", "ND4810273945KXQ"),
    ("Um, it's N as in Nancy, D as in David, forty eight, ten twenty seven, thirty nine forty "
     "five, K X Q.", "ND4810273945KXQ"),
    ("november delta for eight one oh two seven three nine four five kilo x-ray queue",
     "ND4810273945KXQ"),
    ("N D 48 10 27 39 45 KXQ", "ND4810273945KXQ"),
    ("N. D. 4. 8. 1. 0. 2. 7. 3. 9. 4. 5. K. X. Q.", "ND4810273945KXQ"),
    ("en dee four eight one zero two seven three nine four five kay ex cue", "ND4810273945KXQ"),
    ("N like Nancy D like dog 4810 2739 45 K like king X like x-ray Q like queen",
     "ND4810273945KXQ"),
    # The recogniser wrote B for D: the registry has only the D reading.
    ("N B 4 8 1 0 2 7 3 9 4 5 K X Q", "ND4810273945KXQ"),
    # M for N, and nine for five: two confusions, still one registered reading.
    ("M D 4 8 1 0 2 7 3 9 4 9 K X Q", "ND4810273945KXQ"),
    # The spelling word decides over the letter the recogniser wrote.
    ("N, T as in David, 4810 2739 45 KXQ", "ND4810273945KXQ"),
    ("as in Nancy as in David 4810273945 as in king as in x-ray as in queen", "ND4810273945KXQ"),
    ("L R X one oh four five nine two eight three seven", "LRX104592837"),
    ("LRX 104 592 837", "LRX104592837"),
    ("lima romeo x-ray one zero four, five nine two, eight three seven", "LRX104592837"),
    ("L R X ten four five ninety two eighty three seven", "LRX104592837"),
    ("it's L R X one hundred four, five nine two eight three seven", "LRX104592837"),
    ("NC33 0781 5562 RTA", "NC3307815562RTA"),
    ("november charlie double three oh seven eight one double five six two romeo tango alpha",
     "NC3307815562RTA"),
    ("N C 3 3 O 7 8 1 5 5 6 2 R T A", "NC3307815562RTA"),  # O where a digit belongs is 0
    ("N C thirty three oh seven eighty one fifty five sixty two R T A", "NC3307815562RTA"),
    ("N see 3 3 0 7 8 1 5 5 6 2 are tea a", "NC3307815562RTA"),  # weak letters inside the ID
    ("LHAP 2048 1937 5502", "LHAP204819375502"),
    ("L H A P twenty forty eight nineteen thirty seven fifty five oh two", "LHAP204819375502"),
    ("lima hotel alpha papa two zero four eight one nine three seven double five zero two",
     "LHAP204819375502"),
    ("um uh L, H, A, P, 2 0 4 8, 1 9 3 7, 5 5 0 2", "LHAP204819375502"),
    ("L H A B 2048 1937 5502", "LHAP204819375502"),  # B for P
    ("KR2171497774PNF", "KR2171497774PNF"),
    ("K R 2 1 7 1 4 9 triple seven 4 P N F", "KR2171497774PNF"),
    ("kilo romeo twenty one seventy one forty nine seventy seven seventy four papa november "
     "foxtrot", "KR2171497774PNF"),
    ("K R 2 1 7 1 4 9 7 7 7 4 P N S", "KR2171497774PNF"),  # S for F
    ("B Q 1 5 6 0 2 9 8 0 5 4 G P P", "BQ1560298054GPP"),
    ("bravo quebec fifteen sixty twenty nine eighty fifty four golf double papa",
     "BQ1560298054GPP"),
    ("D Q 1 5 6 0 2 9 8 0 5 4 G P P", "BQ1560298054GPP"),  # D for B
    ("W C 3 1 0 0 4 0 6 6 3 0 X Y Z", "WC3100406630XYZ"),
    ("double you C 3100 4066 30 X Y Z", "WC3100406630XYZ"),
    ("whiskey charlie thirty one double oh forty sixty six thirty x-ray yankee zulu",
     "WC3100406630XYZ"),
    ("W C 3 1 double oh 4 oh double six 3 oh X why zed", "WC3100406630XYZ"),
    ("ZV8973806173MZN", "ZV8973806173MZN"),
    ("Z V 8 9 7 3 8 0 6 1 7 3 M Z M", "ZV8973806173MZN"),  # M for N at the end
    ("so it's zulu victor eight nine seven three eight zero six one seven three mike zulu "
     "november", "ZV8973806173MZN"),
]

TABLE = GENERATED + HAND_WRITTEN


def spoken_form(device_id: str, rng: random.Random) -> str:
    """``device_id`` as one caller might say it in one breath, in a style drawn with ``rng``."""
    return rng.choice(FILLERS) + _say(device_id, rng.randrange(7), rng)


def spoken_groups(device_id: str, rng: random.Random) -> list[str]:
    """``device_id`` said a group at a time, as printed on the label ("N D four eight", "one oh
    two seven", ...): one transcript per turn."""
    oh = rng.random() < 0.5
    return [
        " ".join(c if c.isalpha() else _digit(c, oh) for c in group)
        for group in FORMATS.group(device_id).split()
    ]
