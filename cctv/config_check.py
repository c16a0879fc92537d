"""``cctv config check FILE``: validate a cameras YAML file, reporting each problem at its line.

The file is composed with PyYAML (a node tree with line marks) and validated with the same
pydantic model ingest uses; each pydantic error location (``cameras.1.fpz``) is walked down the
node tree to the line it comes from, and printed with that line and its neighbour above::

    cameras.yaml:7:5: cameras.1.fpz: unknown key
          6 |   - name: door
      >   7 |     fpz: 5
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from common.cameras import CamerasFile, read_config_text
from common.schema import SettingsError
from common.urls import has_literal_secret, mask_text, mask_url


@dataclass(frozen=True)
class Problem:
    """One finding: 1-based line and column (0 when unknown), key path, message."""

    line: int
    column: int
    where: str
    message: str


def _value(node: yaml.Node, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    """(key node, value node) of ``key`` in a mapping node, else None."""
    if not isinstance(node, yaml.MappingNode):
        return None
    return next(((k, v) for k, v in node.value if k.value == key), None)


def _node_at(root: yaml.Node, loc: tuple) -> tuple[yaml.Node, bool]:
    """The node ``loc`` names (its key node when the last step is a mapping key), or the deepest
    existing ancestor; the flag says whether the whole path was found."""
    node = root
    for i, step in enumerate(loc):
        if isinstance(node, yaml.SequenceNode) and isinstance(step, int) \
                and step < len(node.value):
            node = node.value[step]
            continue
        pair = _value(node, str(step))
        if pair is None:
            return node, False
        node = pair[0] if i == len(loc) - 1 else pair[1]
    return node, True


def _duplicate_names(sequence: yaml.Node | None) -> list[yaml.Node]:
    """``name`` value nodes of a sequence node's items that repeat an earlier item's name."""
    seen, dupes = set(), []
    for item in sequence.value if isinstance(sequence, yaml.SequenceNode) else []:
        pair = _value(item, "name")
        if pair is not None and pair[1].value in seen:
            dupes.append(pair[1])
        elif pair is not None:
            seen.add(pair[1].value)
    return dupes


UNIQUE_NAMES = {"cameras": "camera", "lines": "line", "zones": "zone"}
"""Lists whose items' names must be unique (cameras, and each camera's lines and zones)."""


def check_text(text: str) -> list[Problem]:
    """Every problem in a cameras file's text (empty when it is valid)."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        what = " ".join(str(getattr(exc, "problem", None) or exc).split())
        return [Problem(mark.line + 1 if mark else 0, mark.column + 1 if mark else 0,
                        "(syntax)", f"not valid YAML: {what}")]
    if root is None:
        data = {}
    if not isinstance(data, dict):
        line = root.start_mark.line + 1 if root is not None else 0
        return [Problem(line, 1, "(top level)", "must be a mapping with a 'cameras' list")]
    try:
        CamerasFile.model_validate(data)
    except ValidationError as exc:
        return _problems(root, exc)
    return []


def _problems(root: yaml.Node, exc: ValidationError) -> list[Problem]:
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        where = ".".join(str(p) for p in loc) or "(top level)"
        message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        kind = UNIQUE_NAMES.get(loc[-1]) if loc else None
        if kind and f"duplicate {kind} names" in message:
            parent, found = _node_at(root, loc[:-1])
            pair = _value(parent, str(loc[-1])) if found else None
            problems += [Problem(n.start_mark.line + 1, n.start_mark.column + 1, where,
                                 f"duplicate {kind} name {n.value!r}")
                         for n in _duplicate_names(pair[1] if pair else None)]
            continue
        node, found = _node_at(root, loc)
        if not found and err["type"] == "missing":
            message = f"missing key '{loc[-1]}' in this mapping"
        mark = node.start_mark
        problems.append(Problem(mark.line + 1, mark.column + 1, where, message))
    return sorted(problems, key=lambda p: (p.line, p.column))


def warnings_for(text: str) -> list[str]:
    """Advice that does not make the file invalid: literal credentials in URLs."""
    try:
        cameras = CamerasFile.model_validate(yaml.safe_load(text) or {}).cameras
    except (yaml.YAMLError, ValidationError, TypeError):
        return []
    return [f"camera {c.name}: the URL holds literal credentials ({mask_url(c.url)}): keep this "
            "file private (a secret, mode 600) or write them as ${VAR}" for c in cameras
            if has_literal_secret(c.url)]


def format_problem(path: str, lines: list[str], problem: Problem) -> str:
    """``path:line:col: where: message`` followed by the line above and the line itself
    (credentials in the shown lines masked)."""
    head = f"{path}:{problem.line}:{problem.column}: {problem.where}: {problem.message}"
    if not 1 <= problem.line <= len(lines):
        return head
    context = [f"      {n:4d} | {mask_text(lines[n - 1])}"
               for n in range(max(1, problem.line - 1), problem.line)]
    context.append(f"  >   {problem.line:4d} | {mask_text(lines[problem.line - 1])}")
    return "\n".join([head, *context])


def check_file(path: str | Path) -> tuple[list[str], list[str]]:
    """(error reports, warnings) for a cameras file; errors are empty when it is valid."""
    path = Path(path)
    try:
        text = read_config_text(path)
    except SettingsError as exc:
        return [str(exc)], []
    lines = text.splitlines()
    errors = [format_problem(str(path), lines, p) for p in check_text(text)]
    return errors, [] if errors else warnings_for(text)
