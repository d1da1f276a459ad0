"""The running product the security tests attack: started for the test module as `make run`
starts it (tests/running_product.py), or, with ``LOREX_SECURITY_TARGET`` set, one already
running (``rasa_url,api_token,server_log_path,product_db_path``), e.g. an older build to see an
attack succeed against it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.running_product import AssistantClient, running_product

TARGET_VARIABLE = "LOREX_SECURITY_TARGET"


@dataclass
class Product(AssistantClient):
    log_path: Path
    product_db: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def started_product(folder: Path, extra_env: dict[str, str] | None = None) -> Iterator[Product]:
    target = os.environ.get(TARGET_VARIABLE)
    if target:
        rasa_url, token, log_path, product_db = target.split(",")
        yield Product(rasa_url, token, Path(log_path), Path(product_db))
        return
    product_db = folder / "lorex.db"
    with running_product(
        folder,
        database_url=f"sqlite:///{product_db}",
        tracker_store_url=f"sqlite:///{folder / 'tracker.db'}",
        extra_env=extra_env,
    ) as (settings, log_path):
        yield Product(settings.rasa_url, settings.rasa_api_token, log_path, product_db)
