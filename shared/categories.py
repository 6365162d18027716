"""The complaint category taxonomy (CONTRACT.md section 8):
`{code, label_id, label_en, parent?}`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from shared.config_files import DATA_DIR, ConfigFileError, entry_label, load_list

DEFAULT_FILE = DATA_DIR / "categories.yaml"
CODE_FORMAT = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


@dataclass(frozen=True)
class Category:
    code: str
    label_id: str
    label_en: str
    parent: str | None = None

    def label(self, language: str) -> str:
        return self.label_en if language == "en" else self.label_id


class Taxonomy:
    def __init__(self, categories: list[Category]) -> None:
        self._by_code = {c.code: c for c in categories}

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __len__(self) -> int:
        return len(self._by_code)

    def get(self, code: str | None) -> Category | None:
        return self._by_code.get(code) if code else None

    def codes(self) -> list[str]:
        return list(self._by_code)


def load_taxonomy(path: str | Path = DEFAULT_FILE) -> Taxonomy:
    categories: list[Category] = []
    seen: set[str] = set()
    items = load_list(path)
    for index, item in enumerate(items):
        label = entry_label(index, item, "code")
        for field in ("code", "label_id", "label_en"):
            if not isinstance(item.get(field), str) or not item[field].strip():
                raise ConfigFileError(path, "required text missing", label, field)
        code = item["code"]
        if not CODE_FORMAT.match(code):
            raise ConfigFileError(path, "code must be dotted lower-case words", label, "code")
        if code in seen:
            raise ConfigFileError(path, "duplicate code", label, "code")
        seen.add(code)
        categories.append(Category(code, item["label_id"], item["label_en"], item.get("parent")))
    for index, category in enumerate(categories):
        if category.parent is not None and category.parent not in seen:
            raise ConfigFileError(path, f"unknown parent {category.parent!r}",
                                  f"#{index + 1} ({category.code})", "parent")
    return Taxonomy(categories)
