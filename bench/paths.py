"""Where things are: the repository, the committed results, the scratch space."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
WORK = REPO / "bench" / ".work"  # scratch (temporary projects, logs); git-ignored
VENV_BIN = Path(sys.executable).parent
RASA = str(VENV_BIN / "rasa")

# Every Rasa process the benchmark starts gets these (as `make run` and `make test` do).
QUIET_RASA = {"RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}


def rasa_env(**extra: str) -> dict[str, str]:
    return {**os.environ, **QUIET_RASA, **extra}
