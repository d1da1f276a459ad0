"""``rasa test nlu --cross-validation`` as the benchmark runs it:
``python -m bench.cross_validation SEED test nlu --cross-validation …`` (Rasa's arguments).

Rasa's command line and Rasa's cross-validation, with three differences that leave the reported
figures (the test folds' intent and entity reports) as Rasa computes them:

- It runs through :mod:`bot.patched_rasa`, as the assistant's Rasa server does: each message is
  parsed by the same pipeline, without dask's scheduler.
- The folds are shuffled from ``SEED`` (Rasa draws them from numpy's global generator, unseeded),
  so a rerun on the same data and configuration gives the same figures, as in
  ``tests/test_rasa_model.py``.
- Each fold's model is not also run on the fold's own training data. Rasa does that only to log
  a training score, which the report does not use; it was a sixth of the run.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy
import rasa.nlu.test

from bot import patched_rasa

_rasa_combine_result = rasa.nlu.test.combine_result


async def _combine_test_fold_only(
    intent_metrics: Any,
    entity_metrics: Any,
    response_selection_metrics: Any,
    processor: Any,
    data: Any,
    intent_results: list[Any] | None = None,
    entity_results: list[Any] | None = None,
    response_selection_results: list[Any] | None = None,
) -> tuple[Any, Any, Any]:
    # rasa.nlu.test.cross_validate collects results only for the test fold; the call without a
    # list for them is the one for the training data.
    if intent_results is None:
        return intent_metrics, entity_metrics, response_selection_metrics
    combined: tuple[Any, Any, Any] = await _rasa_combine_result(
        intent_metrics,
        entity_metrics,
        response_selection_metrics,
        processor,
        data,
        intent_results,
        entity_results,
        response_selection_results,
    )
    return combined


def main(argv: list[str]) -> None:
    from rasa.__main__ import main as rasa_main

    if not argv or not argv[0].isdigit():
        sys.exit("usage: python -m bench.cross_validation SEED test nlu --cross-validation ...")
    numpy.random.seed(int(argv[0]))
    patched_rasa.apply()
    rasa.nlu.test.combine_result = _combine_test_fold_only
    sys.argv = ["rasa", *argv[1:]]
    rasa_main()


if __name__ == "__main__":
    main(sys.argv[1:])
