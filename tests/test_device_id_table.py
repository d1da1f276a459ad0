"""A table of messages: what the extractor pulls out, and what the checks then say.

Built against the real demo registry (``data/devices.csv``, regenerated and compared in
``test_demo_registry.py``) through a small lookup over the CSV: the database version of the
registry is tested in ``test_registry.py``; here extraction and checks are under test.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bot.content import DATA_DIR
from bot.devices.checks import Outcome, check_device_id
from bot.devices.extraction import DeviceIdExtractor
from bot.devices.formats import load_formats
from bot.devices.record import DeviceRecord

FORMATS = load_formats()
DEVICES_CSV = DATA_DIR / "devices.csv"


class CsvLookup:
    """The registry as a dictionary over ``data/devices.csv``."""

    def __init__(self, path: Path) -> None:
        with open(path, encoding="utf-8", newline="") as stream:
            records = [
                DeviceRecord(
                    device_id=row["device_id"],
                    model=row["model"],
                    family=FORMATS.family_for_model(row["model"]).name,
                    serial_number=row["serial_number"],
                    owner_name=row["owner_name"],
                    owner_email=row["owner_email"],
                    owner_phone=row["owner_phone"],
                    warranty_registered=row["warranty_registered"] == "yes",
                )
                for row in csv.DictReader(stream)
            ]
        self.by_id = {r.device_id: r for r in records}
        self.by_serial = {r.serial_number: r for r in records}

    def find_by_device_id(self, device_id: str) -> DeviceRecord | None:
        return self.by_id.get(device_id)

    def find_by_serial(self, serial_number: str) -> DeviceRecord | None:
        return self.by_serial.get(serial_number)


LOOKUP = CsvLookup(DEVICES_CSV)

OK = Outcome.OK
OTHER = Outcome.OTHER_ROUTE
SERIAL = Outcome.SERIAL_NUMBER
SHORT = Outcome.TOO_SHORT
LONG = Outcome.TOO_LONG
BAD = Outcome.BAD_CHARACTERS
PATTERN = Outcome.WRONG_PATTERN
UNKNOWN = Outcome.NOT_FOUND

# (message, extracted value or None, outcome of checking it or None when nothing is extracted)
CASES: list[tuple[str, str | None, Outcome | None]] = [
    # --- N-series (procedure): the documented example, every way people type it.
    ("ND4810273945KXQ", "ND4810273945KXQ", OK),
    ("my device id is nd48-1027-3945-kxq", "ND4810273945KXQ", OK),
    ("ID: ND48 1027 3945 KXQ thanks", "ND4810273945KXQ", OK),
    ("device id=ND48.1027.3945.KXQ", "ND4810273945KXQ", OK),
    ("nd4810273945kxq", "ND4810273945KXQ", OK),
    ("ND48_1027_3945_KXQ", "ND4810273945KXQ", OK),
    ("ND48/1027/3945/KXQ", "ND4810273945KXQ", OK),
    ("ND48:1027:3945:KXQ", "ND4810273945KXQ", OK),
    ("ND48 – 1027 – 3945 – KXQ", "ND4810273945KXQ", OK),
    ("N D 4 8 1 0 2 7 3 9 4 5 K X Q", "ND4810273945KXQ", OK),
    ("ND48  1027\n3945 KXQ", "ND4810273945KXQ", OK),
    ("  ND4810273945KXQ  ", "ND4810273945KXQ", OK),
    ("(ND48-1027-3945-KXQ)", "ND4810273945KXQ", OK),
    ('"ND4810273945KXQ"', "ND4810273945KXQ", OK),
    ("ok ND48 1027 3945 KXQ ok", "ND4810273945KXQ", OK),
    ("it is ND4810273945KXQ.", "ND4810273945KXQ", OK),
    ("the id on the sticker is ND48 1027 3945 KXQ, is that right?", "ND4810273945KXQ", OK),
    ("ND4810273945KXQ is my id", "ND4810273945KXQ", OK),
    ("ID#ND4810273945KXQ", "ND4810273945KXQ", OK),
    ("I have a N843 and the id is ND48 1027 3945 KXQ", "ND4810273945KXQ", OK),
    ("N843 ND4810273945KXQ", "ND4810273945KXQ", OK),
    ("Device ID: ND48-1027-3945-KXQ 🙂", "ND4810273945KXQ", OK),
    ("ND4810273945KXQ!!!", "ND4810273945KXQ", OK),
    ("here: ND48.1027.3945.KXQ. thx", "ND4810273945KXQ", OK),
    # look-alikes, fixed only where the pattern decides
    ("nd48 1o27 3945 kxq", "ND4810273945KXQ", OK),
    ("ND48 I027 3945 KXQ", "ND4810273945KXQ", OK),
    ("ND4B 1027 3945 KXQ", "ND4810273945KXQ", OK),
    ("ND48 1027 394S KXQ", "ND4810273945KXQ", OK),
    ("8Q15 6029 8054 GPP", "BQ1560298054GPP", OK),
    ("BQ1S 6O29 8O54 6PP", "BQ1560298054GPP", OK),
    ("6O92 3740 3578 FQN", "GO9237403578FQN", OK),
    ("G092 3740 3578 FQN", "GO9237403578FQN", OK),
    ("IM91 3849 7061 VR0", "IM9138497061VRO", OK),
    # Two look-alikes, where the first twelve characters alone would fit an older recorder's
    # pattern with one: the whole typed ID wins, not a shorter reading that drops "KXQ".
    ("NDQ4 7Q93 4533 KXQ", "ND0470934533KXQ", UNKNOWN),
    ("ND4B 1O27 3945 KXQ", "ND4810273945KXQ", OK),
    ("1M91 3849 7O61 VRO", "IM9138497061VRO", OK),
    # other N-series rows
    ("KR21 7149 7774 PNF", "KR2171497774PNF", OK),
    ("kr2171497774pnf", "KR2171497774PNF", OK),
    ("my nvr id: RU72-1554-9966-XJK", "RU7215549966XJK", OK),
    ("MT8364735521QBF thanks", "MT8364735521QBF", OK),
    ("ZV89 7380 6173 MZN", "ZV8973806173MZN", OK),
    ("tp50 3652 8294 pbh", "TP5036528294PBH", OK),
    ("WC3100406630XYZ", "WC3100406630XYZ", OK),
    ("GS37.9678.2526.JYD", "GS3796782526JYD", OK),
    # --- older recorders (procedure)
    ("it's LRX 104 592 837.", "LRX104592837", OK),
    ("LRX104592837", "LRX104592837", OK),
    ("lrx-104-592-837", "LRX104592837", OK),
    ("the LRX 104 592 837", "LRX104592837", OK),
    ("LRX 1O4 S92 B37", "LRX104592837", OK),
    ("NYD 606 239 000", "NYD606239000", OK),
    ("nyd6o6239ooo", "NYD606239000", OK),
    ("WLL783522181", "WLL783522181", OK),
    ("GVQ-764-160-020", "GVQ764160020", OK),
    ("J11 069 001 808", "JII069001808", OK),
    ("JII O69 OO1 8O8", "JII069001808", OK),
    ("QOR130033497", "QOR130033497", OK),
    ("TN0 421 082 045", "TNO421082045", OK),
    ("my recorder is an LNR400, id FTK 111 956 528", "FTK111956528", OK),
    ("BAU910271416", "BAU910271416", OK),
    # a short word before an older ID could read as a serial number (GOJII069001808)
    ("go JII 069 001 808", "JII069001808", OK),
    # --- N831 and Lorex Home app recorders: registered, but reset another way
    ("NC3307815562RTA", "NC3307815562RTA", OTHER),
    ("nc33 0781 5562 rta", "NC3307815562RTA", OTHER),
    ("IJ82-9928-0257-BYH", "IJ8299280257BYH", OTHER),
    ("QD23 7283 7793 CFT please", "QD2372837793CFT", OTHER),
    ("LHAP 2048 1937 5502", "LHAP204819375502", OTHER),
    ("lhap204819375502", "LHAP204819375502", OTHER),
    ("MDSV 4507 4498 0558", "MDSV450744980558", OTHER),
    ("1ZHU 8791 6441 5643", "IZHU879164415643", OTHER),
    ("ZFVK-2063-5921-4636", "ZFVK206359214636", OTHER),
    ("my home app device: LNNP 8248 6605 3165", "LNNP824866053165", OTHER),
    # --- serial numbers, the usual mix-up
    ("S/N 21LX0483920175", "21LX0483920175", SERIAL),
    ("serial 21LX 0483 9201 75", "21LX0483920175", SERIAL),
    ("s-n: 21lx0483920175", "21LX0483920175", SERIAL),
    ("21UQ8458749897", "21UQ8458749897", SERIAL),
    ("240Z 6805 5922 48", "240Z6805592248", SERIAL),
    ("22OC3375349435", "22OC3375349435", SERIAL),
    ("SN: 15LG2646984227", "15LG2646984227", SERIAL),
    ("23XY1234567890", "23XY1234567890", SERIAL),  # serial-shaped, not registered
    # --- well-formed but not registered
    ("ND48 1027 3945 KXZ", "ND4810273945KXZ", UNKNOWN),
    ("AB1234567890CDE", "AB1234567890CDE", UNKNOWN),
    ("LRX 104 592 830", "LRX104592830", UNKNOWN),
    ("ABC123456789", "ABC123456789", UNKNOWN),
    ("LHAP 2048 1937 5503", "LHAP204819375503", UNKNOWN),
    ("my id is ZZ0000000000ZZZ", "ZZ0000000000ZZZ", UNKNOWN),
    # a group that happens to be an English word is still part of the ID
    ("ND48 1027 3945 AND", "ND4810273945AND", UNKNOWN),
    ("the ID is AB12 3456 7890 THE thanks", "AB1234567890THE", UNKNOWN),
    # --- attempts that fit no pattern: extracted so the checks can say what is wrong
    ("ND4810", "ND4810", SHORT),
    ("my id is ND4810 ok", "ND4810", SHORT),
    ("ND48 1027", "ND481027", SHORT),
    ("ND48 1027 3945 KX please", "ND4810273945KX", SHORT),
    ("it's ND48 1027 3945 KX", "ND4810273945KX", SHORT),
    ("LRX104 592", "LRX104592", SHORT),
    ("ND48 1027 3945 KXQQ 7", "ND4810273945KXQQ7", LONG),
    ("LRX104 592 8371", "LRX1045928371", LONG),
    ("ND48#1027", "ND48#1027", BAD),
    ("ND48#1027#3945#KXQ", "ND48#1027#3945#KXQ", BAD),
    ("id is ND48@1027-3945-KXQ", "ND48@10273945KXQ", BAD),
    ("ND48 1027 3945 KX7", "ND4810273945KX7", PATTERN),
    ("ND48 1027 3X45 KXQ", "ND4810273X45KXQ", PATTERN),
    ("L7X 104 592 837", "L7X104592837", PATTERN),
    # An attempt needs a chunk mixing letters and digits: a word before a number is not one.
    ("LRX 104 592", None, None),
    ("10273945 KX", None, None),
    ("pin 12345678", None, None),
    ("tel 202 555 0147", None, None),
    # --- nothing ID-like: nothing extracted, nothing checked
    ("where is the device id?", None, None),
    ("step 3 done", None, None),
    ("I have a N843", None, None),
    ("i have an n843 and an lnr6100", None, None),
    ("call 1-888-425-6739", None, None),
    ("call +1 (888) 425-6739 ext 12", None, None),
    ("my number is 202-555-0147", None, None),
    ("call me at 202 555 0147", None, None),
    ("it happened on 2024-05-06 at 10:30", None, None),
    ("the pin 12345678 does not work", None, None),
    ("order 123456789 from the shop", None, None),
    ("ok thanks", None, None),
    ("", None, None),
    ("🙂🙂🙂", None, None),
    ("RAM 16GB and a 2TB HDD", None, None),
    ("firmware v4.2.1 on channel 8", None, None),
    ("email me at john.smith1985@example.com", None, None),
    ("see https://help.lorex.com/article/12345678", None, None),
    ("ND48 # 1027", None, None),
    ("the Device ID is on the sticker next to the QR code", None, None),
    ("I tried admin and 000000", None, None),
    ("yes", None, None),
]


@pytest.fixture(scope="module")
def extractor() -> DeviceIdExtractor:
    return DeviceIdExtractor(FORMATS)


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 100
    assert len({message for message, _, _ in CASES}) == len(CASES), "duplicate messages"


def test_the_table_uses_real_rows() -> None:
    # Registered outcomes must name registered IDs or serials, unknown ones must not: otherwise a
    # registry change would quietly turn these cases into tests of something else.
    for _, value, outcome in CASES:
        if outcome in (OK, OTHER):
            assert value in LOOKUP.by_id
        if outcome is UNKNOWN:
            assert value not in LOOKUP.by_id
    covered = {outcome for _, _, outcome in CASES} - {None}
    assert covered == set(Outcome) - {Outcome.EMPTY}


@pytest.mark.parametrize(("message", "value", "outcome"), CASES)
def test_message(
    extractor: DeviceIdExtractor, message: str, value: str | None, outcome: Outcome | None
) -> None:
    found = extractor.find(message)
    if value is None:
        assert found is None
        return
    assert found is not None
    assert found.value == value
    assert message[found.start_char : found.end_char] == found.raw_text
    result = check_device_id(found.value, LOOKUP, FORMATS)
    assert result.outcome is outcome
    # The checks normalise on their own: checking what was typed gives the same answer.
    assert check_device_id(found.raw_text, LOOKUP, FORMATS).outcome is outcome
