"""YAML with positions: the document as plain Python data plus the line of every value.

``load_yaml(text, file)`` returns a :class:`Located` tree root.  Each node knows its value, its
dotted field path (``steps[2].plug.cable``) and its line, so a validation error can say
``file:line: field: message``.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

import yaml

from chargepoint.errors import FieldError


class ScenarioError(FieldError):
    """A scenario file is wrong: ``file:line: field: message``."""

    def __init__(self, file: str, line: int, field: str, message: str) -> None:
        super().__init__(field, message)
        self.file = file
        self.line = line
        self.args = (f"{file}:{line}: {field}: {message}",)


@dataclass(frozen=True)
class Located:
    """A value of the document with the place it came from."""

    value: Any
    file: str
    line: int
    path: str
    children: Any = None  # dict[str, Located] | list[Located] | None

    # -- errors ----------------------------------------------------------------------------------
    def fail(self, message: str) -> ScenarioError:
        return ScenarioError(self.file, self.line, self.path or "(document)", message)

    # -- navigation ------------------------------------------------------------------------------
    def _child_path(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else key

    def is_map(self) -> bool:
        return isinstance(self.children, dict)

    def is_list(self) -> bool:
        return isinstance(self.children, list)

    def keys(self) -> list[str]:
        return list(self.children) if isinstance(self.children, dict) else []

    def has(self, key: str) -> bool:
        return isinstance(self.children, dict) and key in self.children

    def get(self, key: str) -> Located | None:
        if not isinstance(self.children, dict):
            return None
        return self.children.get(key)

    def missing(self, key: str) -> ScenarioError:
        return ScenarioError(self.file, self.line, self._child_path(key), "required field is missing")

    def items(self) -> list[Located]:
        return list(self.children) if isinstance(self.children, list) else []

    def entries(self) -> list[tuple[str, Located]]:
        return list(self.children.items()) if isinstance(self.children, dict) else []

    # -- checks ----------------------------------------------------------------------------------
    def map(self, allowed: tuple[str, ...] | None = None) -> Located:
        if not self.is_map():
            raise self.fail(f"must be a mapping, got {_kind(self.value)}")
        if allowed is not None:
            for key, child in self.children.items():
                if key not in allowed:
                    raise child.fail_key(f"unknown field (known: {', '.join(allowed)})")
        return self

    def fail_key(self, message: str) -> ScenarioError:
        return self.fail(message)

    def list(self) -> list[Located]:
        if not self.is_list():
            raise self.fail(f"must be a list, got {_kind(self.value)}")
        return self.items()

    def str(self) -> str:
        if not isinstance(self.value, str):
            raise self.fail(f"must be a string, got {_kind(self.value)}")
        return self.value

    def number(self, lo: float | None = None, hi: float | None = None) -> float:
        v = self.value
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise self.fail(f"must be a number, got {_kind(v)}")
        if v != v or v in (float("inf"), float("-inf")):
            raise self.fail("must be a finite number")
        if lo is not None and v < lo:
            raise self.fail(f"must be >= {lo:g}, got {v:g}")
        if hi is not None and v > hi:
            raise self.fail(f"must be <= {hi:g}, got {v:g}")
        return float(v)

    def int(self, lo: int | None = None, hi: int | None = None) -> int:
        v = self.value
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(f"must be an integer, got {_kind(v)}")
        if lo is not None and v < lo:
            raise self.fail(f"must be >= {lo}, got {v}")
        if hi is not None and v > hi:
            raise self.fail(f"must be <= {hi}, got {v}")
        return v

    def bool(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.fail(f"must be true or false, got {_kind(self.value)}")
        return self.value

    def choice(self, choices: tuple[builtins.str, ...]) -> builtins.str:  # str: the method above
        v = self.str()
        if v not in choices:
            raise self.fail(f"must be one of {', '.join(choices)}, got {v!r}")
        return v


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _build(node: yaml.Node, constructor: yaml.constructor.SafeConstructor, file: str, path: str) -> Located:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        constructor.flatten_mapping(node)
        children: dict[str, Located] = {}
        for key_node, value_node in node.value:
            key = constructor.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool):
                raise ScenarioError(file, key_node.start_mark.line + 1, path or "(document)",
                                    "mapping keys must be plain scalars")
            key_text = str(key)
            if key_text in children:
                sub = f"{path}.{key_text}" if path else key_text
                raise ScenarioError(file, key_node.start_mark.line + 1, sub, "duplicate key")
            sub = f"{path}.{key_text}" if path else key_text
            children[key_text] = _build(value_node, constructor, file, sub)
        return Located({k: c.value for k, c in children.items()}, file, line, path, children)
    if isinstance(node, yaml.SequenceNode):
        items = [_build(v, constructor, file, f"{path}[{i}]") for i, v in enumerate(node.value)]
        return Located([c.value for c in items], file, line, path, items)
    value = constructor.construct_object(node, deep=True)
    if hasattr(value, "isoformat"):  # YAML timestamps stay text; the schema parses them
        value = node.value
    return Located(value, file, line, path, None)


def load_yaml(text: str, file: str = "<scenario>") -> Located:
    """Parse one YAML document into a :class:`Located` tree; syntax errors become ScenarioError."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ScenarioError(file, 1, "(document)", "the file is empty")
        return _build(node, loader, file, "")
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise ScenarioError(file, line, "(syntax)", f"{exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(file, 1, "(syntax)", str(exc)) from None
    finally:
        loader.dispose()
