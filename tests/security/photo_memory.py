"""The Rasa server's memory while label photos are read: its resident size before, at the peak
and after N large photos posted at once (read from /proc, sampled every 20 ms).

Used by tests/security/test_label_photo_limits.py, and on its own against a running product:

    .venv/bin/python -m tests.security.photo_memory http://127.0.0.1:5005 --photos 30
"""

from __future__ import annotations

import argparse
import io
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import qrcode
import requests
from PIL import Image

SUPPORTED_ID = "ND4810273945KXQ"


def large_label_photo(width: int = 7000, height: int = 7000) -> bytes:
    """A mostly blank PNG of ``width`` x ``height`` pixels with the label's QR code in a corner:
    a few hundred kB on the wire, ``width * height * 3`` bytes once decoded (49 MP: 147 MB)."""
    photo = Image.new("RGB", (width, height), "white")
    code = qrcode.make(SUPPORTED_ID, box_size=8, border=4).get_image().convert("RGB")
    photo.paste(code, (100, 100))
    out = io.BytesIO()
    photo.save(out, "PNG")
    return out.getvalue()


def rasa_server_pid(rasa_port: int) -> int:
    """The process serving ``rasa_port`` (started by bot.patched_rasa with --port)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"bot.patched_rasa" in command and str(rasa_port).encode() in command:
            return int(proc.name)
    raise LookupError(f"no Rasa server on port {rasa_port}")


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise LookupError(pid)


@dataclass
class MemoryFigures:
    before_mb: float
    peak_mb: float
    after_mb: float
    statuses: Counter[int]

    def __str__(self) -> str:
        return (
            f"RSS before {self.before_mb:.0f} MB, peak {self.peak_mb:.0f} MB, "
            f"after {self.after_mb:.0f} MB; answers {dict(sorted(self.statuses.items()))}"
        )


def post_in_parallel(rasa_url: str, photo: bytes, photos: int) -> MemoryFigures:
    pid = rasa_server_pid(int(rasa_url.rsplit(":", 1)[1]))
    before = resident_mb(pid)
    peak = before
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, resident_mb(pid))
            time.sleep(0.02)

    def post() -> None:
        reply = requests.post(f"{rasa_url}/webhooks/widget/label-photo", data=photo, timeout=300)
        with lock:
            statuses[reply.status_code] += 1

    sampler = threading.Thread(target=sample)
    sampler.start()
    posters = [threading.Thread(target=post) for _ in range(photos)]
    for thread in posters:
        thread.start()
    for thread in posters:
        thread.join()
    time.sleep(3)  # what stays once the work is over
    done.set()
    sampler.join()
    return MemoryFigures(before, peak, resident_mb(pid), statuses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rasa_url")
    parser.add_argument("--photos", type=int, default=30)
    parser.add_argument("--width", type=int, default=7000)
    parser.add_argument("--height", type=int, default=7000)
    args = parser.parse_args()
    photo = large_label_photo(args.width, args.height)
    print(f"{args.photos} photos of {args.width}x{args.height} ({len(photo) // 1024} kB) at once:")
    print(post_in_parallel(args.rasa_url, photo, args.photos))


if __name__ == "__main__":
    main()
