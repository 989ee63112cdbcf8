"""Count the escape hatches of the type checker: ``Any`` and ``# type: ignore``, per source folder.

``python -m benchmarks.typing_counts [--json PATH] [ROOT]`` prints a table (folder, files, ``Any``
uses, ``type: ignore`` comments) for chargepoint/, hal/, backends/ and scenarios/.  ``Any`` is
counted where the code names it (``Any``, ``typing.Any``, ``t.Any``; string annotations included),
not where mypy infers it; ``type: ignore`` is counted in comments only, so a string that mentions it
does not count.  Not a timed benchmark: it lives here because it is a number to compare before and
after a change, not a test.
"""

from __future__ import annotations

import ast
import io
import json
import pathlib
import re
import sys
import tokenize

FOLDERS = ("chargepoint", "hal", "backends", "scenarios")
_IGNORE = re.compile(r"#\s*type:\s*ignore\b")


def _annotation_strings(tree: ast.AST) -> list[str]:
    """The string constants used as annotations (``x: "Any"``, ``-> "dict[str, Any]"``)."""
    out: list[str] = []
    for node in ast.walk(tree):
        annotations: list[ast.expr | None] = []
        if isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        elif isinstance(node, ast.arg):
            annotations.append(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            annotations.append(node.returns)
        for ann in annotations:
            if ann is None:
                continue
            for sub in ast.walk(ann):
                if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                    out.append(sub.value)
    return out


def count_any(source: str) -> int:
    """Uses of ``Any`` in *source*: names, attributes (``typing.Any``) and string annotations."""
    tree = ast.parse(source)
    n = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "Any":
            n += 1
        elif isinstance(node, ast.Attribute) and node.attr == "Any":
            n += 1
    for text in _annotation_strings(tree):
        try:
            n += count_any(text)
        except SyntaxError:
            continue
    return n


def count_type_ignores(source: str) -> int:
    """``# type: ignore`` comments in *source* (with or without an error code)."""
    n = 0
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT and _IGNORE.search(tok.string):
            n += 1
    return n


def counts(root: pathlib.Path, folders: tuple[str, ...] = FOLDERS) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for folder in folders:
        files = sorted((root / folder).rglob("*.py")) if (root / folder).exists() else []
        row = {"files": 0, "any": 0, "type_ignore": 0}
        for path in files:
            source = path.read_text(encoding="utf-8")
            row["files"] += 1
            row["any"] += count_any(source)
            row["type_ignore"] += count_type_ignores(source)
        table[folder] = row
    table["total"] = {key: sum(r[key] for r in table.values()) for key in ("files", "any", "type_ignore")}
    return table


def main(argv: list[str]) -> int:
    json_path = None
    if "--json" in argv:
        i = argv.index("--json")
        json_path = pathlib.Path(argv[i + 1])
        del argv[i : i + 2]
    root = pathlib.Path(argv[0]) if argv else pathlib.Path(__file__).resolve().parents[1]
    table = counts(root)
    print("| folder | files | Any | type: ignore |\n|---|---|---|---|")
    for folder, row in table.items():
        print(f"| {folder} | {row['files']} | {row['any']} | {row['type_ignore']} |")
    if json_path is not None:
        json_path.write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
