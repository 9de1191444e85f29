"""The one reader of the collector's YAML: typed getters whose errors name the full key path and valid values.

Every section of the configuration file, the core ones in ``config.py`` as well as ``drift:`` (the drift engine's
configuration) and ``ground_truth:`` (the performance engine's), is read through :class:`Section`, so that a bad
value anywhere says where it is (``drift.references.poll_interval_seconds: must be >= 0, got -1.0``) and a
misspelt key lists the keys valid at that place. It imports nothing of the collector, so that every
configuration class can use it without an import cycle.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["ConfigError", "Section", "split_host_port"]

_T = TypeVar("_T")


class ConfigError(ValueError):
    """A configuration value is missing, unknown or invalid; the message names the key."""


def split_host_port(endpoint: str) -> tuple[str, int]:
    """Split ``host:port`` (``[v6]:port`` for IPv6) into its parts.

    Raises:
        ValueError: not of that form, or the port is not in 0..65535.
    """
    host, sep, port = endpoint.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected host:port, got {endpoint!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


class Section:
    """A mapping being read: typed getters that name the key on error, and a check for unknown keys.

    Read every key the section may hold (each getter, and :meth:`has`, marks its key as valid), then call
    :meth:`done`, which rejects the keys nobody read and lists the valid ones.

    Args:
        data: The parsed mapping (None reads as empty).
        path: Its key path from the document's root (``""`` for the root itself).
        label: Names the section in the unknown-key message (``unknown drift key 'x'``).

    Raises:
        ConfigError: ``data`` is not a mapping.
    """

    def __init__(self, data: Any, path: str, label: str | None = None) -> None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path or '<root>'}: expected a mapping, got {type(data).__name__}")
        self._data = data
        self.path = path
        self.label = label
        self._seen: set[str] = set()

    def key(self, key: str) -> str:
        """The full path of ``key`` in this section."""
        return f"{self.path}.{key}" if self.path else key

    def raw(self, key: str) -> Any:
        """The value as parsed (None when absent), marking ``key`` as valid."""
        self._seen.add(key)
        return self._data.get(key)

    def has(self, key: str) -> bool:
        """Whether ``key`` is present; marks it as valid."""
        self._seen.add(key)
        return key in self._data

    def names(self) -> list[str]:
        """Every key present, for sections whose keys are names (models, columns); marks them all as valid."""
        keys = [str(k) for k in self._data]
        self._seen.update(keys)
        return keys

    def section(self, key: str, label: str | None = None) -> Section:
        """The mapping under ``key`` (empty when absent)."""
        return Section(self.raw(key), self.key(key), label)

    def sections(self, key: str) -> list[Section]:
        """The list of mappings under ``key`` (empty when absent)."""
        value = self.raw(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise ConfigError(f"{self.key(key)}: expected a list of mappings, got {type(value).__name__}")
        return [Section(v, f"{self.key(key)}[{i}]") for i, v in enumerate(value)]

    def bool(self, key: str, default: bool | None) -> Any:
        """``true``/``false`` (also as strings, as ``${env:...}`` substitution gives)."""
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ConfigError(f"{self.key(key)}: expected true or false, got {value!r}")

    def int(self, key: str, default: int, minimum: int | None = None) -> int:
        """An integer (or a string of digits), at least ``minimum``."""
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{self.key(key)}: expected an integer, got {value!r}")
        if minimum is not None and value < minimum:
            raise ConfigError(f"{self.key(key)}: must be >= {minimum}, got {value}")
        return value

    def float(
        self, key: str, default: float, minimum: float | None = None, above: float | None = None
    ) -> float:
        """A number, at least ``minimum`` and greater than ``above`` when given."""
        value = self.raw(key)
        if value is None:
            return default
        try:
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{self.key(key)}: expected a number, got {value!r}") from None
        if minimum is not None and number < minimum:
            raise ConfigError(f"{self.key(key)}: must be >= {minimum}, got {number}")
        if above is not None and not number > above:
            raise ConfigError(f"{self.key(key)}: must be > {above}, got {number}")
        return number

    def str(self, key: str, default: str | None) -> Any:
        """A string (numbers are taken as their text)."""
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{self.key(key)}: expected a string, got {value!r}")
        return str(value)

    def choice(self, key: str, default: str, valid: tuple[str, ...], upper: bool = False) -> str:
        """One of ``valid``."""
        value = self.str(key, default)
        value = value.upper() if upper else value
        if value not in valid:
            raise ConfigError(f"{self.key(key)}: {value!r} is not one of {', '.join(valid)}")
        return value

    def endpoint(self, key: str, default: str) -> str:
        """A ``host:port``."""
        value = self.str(key, default)
        try:
            split_host_port(value)
        except ValueError as e:
            raise ConfigError(f"{self.key(key)}: {e}") from None
        return value

    def file(self, key: str, required: bool) -> Any:
        """The path of an existing file."""
        value = self.str(key, None)
        if value is None:
            if required:
                raise ConfigError(f"{self.key(key)}: required")
            return None
        if not os.path.isfile(value):
            raise ConfigError(f"{self.key(key)}: no such file {value!r}")
        return value

    def str_list(
        self, key: str, default: tuple[str, ...], valid: tuple[str, ...], allow_empty: bool = False
    ) -> tuple[str, ...]:
        """A list of values from ``valid`` (a single string reads as a list of one), without duplicates."""
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not (value or allow_empty):
            raise ConfigError(f"{self.key(key)}: expected a non-empty list, got {value!r}")
        for item in value:
            if item not in valid:
                raise ConfigError(f"{self.key(key)}: {item!r} is not one of {', '.join(valid)}")
        return tuple(dict.fromkeys(value))

    def str_map(self, key: str, lower_keys: bool = True) -> tuple[tuple[str, str], ...]:
        """A mapping of names to string values, as pairs (names lower-cased unless ``lower_keys`` is False)."""
        value = self.raw(key)
        if value is None:
            return ()
        if not isinstance(value, dict):
            raise ConfigError(f"{self.key(key)}: expected a mapping of names to values, got {value!r}")
        return tuple(((str(k).lower() if lower_keys else str(k)), str(v)) for k, v in value.items())

    def mapping(self, key: str) -> dict[str, Any]:
        """A mapping with free-form keys (model or column names), values as parsed; empty when absent."""
        value = self.raw(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ConfigError(f"{self.key(key)}: expected a mapping, got {type(value).__name__}")
        return {str(k): v for k, v in value.items()}

    def checked(self, key: str, value: _T, check: Callable[[_T], object]) -> _T:
        """``value`` after ``check(value)`` passed; a ValueError or TypeError from it becomes a ConfigError."""
        try:
            check(value)
        except (ValueError, TypeError) as e:
            raise ConfigError(f"{self.key(key)}: {e}") from None
        return value

    def done(self) -> None:
        """Reject the keys no getter read, listing the valid ones.

        Raises:
            ConfigError: naming the first unknown key by its full path.
        """
        unknown = sorted(set(map(str, self._data)) - self._seen)
        if unknown:
            what = f"unknown {self.label} key {unknown[0]!r}" if self.label else "unknown key"
            raise ConfigError(
                f"{self.key(unknown[0])}: {what} (valid keys here: {', '.join(sorted(self._seen))})"
            )
