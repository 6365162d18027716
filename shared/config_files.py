"""Loading the YAML configuration files (CONTRACT.md section 8) with errors that name
the file, the entry and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DATA_DIR = Path(__file__).parent / "data"


class ConfigFileError(ValueError):
    """A configuration file is invalid; the service must not start."""

    def __init__(self, path: str | Path, problem: str, entry: str | None = None,
                 field: str | None = None) -> None:
        where = f"{path}"
        if entry is not None:
            where += f": entry {entry}"
        if field is not None:
            where += f", field {field!r}"
        super().__init__(f"{where}: {problem}")
        self.path, self.entry, self.field, self.problem = str(path), entry, field, problem


def load_yaml(path: str | Path) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError:
        raise ConfigFileError(path, "file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigFileError(path, f"not valid YAML: {exc}") from None


def load_list(path: str | Path) -> list[dict[str, Any]]:
    data = load_yaml(path)
    if not isinstance(data, list):
        raise ConfigFileError(path, "expected a list of entries")
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise ConfigFileError(path, "expected a mapping", entry=f"#{index + 1}")
    return data


def entry_label(index: int, item: dict[str, Any], key: str = "id") -> str:
    ident = item.get(key)
    return f"#{index + 1} ({ident})" if ident is not None else f"#{index + 1}"
