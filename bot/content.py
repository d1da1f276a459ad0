"""Loading the product's content (YAML under ``data/``) with errors that name file and line.

Content is validated once, at load time: a typo in ``data/content/reset_steps.yml`` should stop
start-up with ``data/content/reset_steps.yml:42: step 'login' has no 'text'``, not surface as a
KeyError in the middle of a customer's conversation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml

# Re-exported: LOREX_DATA_DIR is read with the other settings.
from bot.settings import DATA_DIR as DATA_DIR
from bot.settings import REPO_ROOT as REPO_ROOT

CONTENT_DIR = DATA_DIR / "content"

T = TypeVar("T")


class ContentError(ValueError):
    """A content file is malformed; the message starts with ``path:line:``."""

    def __init__(self, path: str | Path, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = str(path)
        self.line = line


class ContentMapping(dict):  # type: ignore[type-arg]
    """A YAML mapping that remembers where it was written, for error messages."""

    path: str = "<unknown>"
    line: int = 0

    def error(self, message: str) -> ContentError:
        return ContentError(self.path, self.line, message)

    def require(self, key: str, kind: type[T]) -> T:
        """The value at ``key``, which must exist and be of ``kind``."""
        if key not in self:
            raise self.error(f"missing required key '{key}'")
        value = self[key]
        if not isinstance(value, kind):
            raise self.error(
                f"'{key}' must be a {kind.__name__}, not {type(value).__name__}"
            )
        return value

    def optional(self, key: str, kind: type[T], default: T) -> T:
        if key not in self or self[key] is None:
            return default
        return self.require(key, kind)


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> ContentMapping:
    mapping = ContentMapping(loader.construct_mapping(node, deep=True))
    mapping.path = str(loader.name)
    mapping.line = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,  # type: ignore[arg-type]
)


def load_yaml(path: str | Path) -> Any:
    """Parse ``path``; every mapping in the result is a :class:`ContentMapping`."""
    path = Path(path)
    try:
        relative = path.resolve().relative_to(REPO_ROOT)
    except ValueError:
        relative = path
    with open(path, encoding="utf-8") as stream:
        loader = _LineLoader(stream)
        loader.name = str(relative)
        try:
            return loader.get_single_data()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            line = mark.line + 1 if mark else 0
            raise ContentError(relative, line, str(exc.problem)) from exc
        finally:
            loader.dispose()


def load_mapping(path: str | Path) -> ContentMapping:
    data = load_yaml(path)
    if not isinstance(data, ContentMapping):
        raise ContentError(path, 1, "the file must hold a mapping at the top level")
    return data
