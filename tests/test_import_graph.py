"""Dependencies point one way (docs/architecture.md): each package imports only what it may."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = {"common", "media", "detector", "ingest", "workers", "api", "dashboard", "training", "tracking",
        "cctv", "integrations"}
ALLOWED = {
    "common": set(),
    "media": set(),  # decode, encode, draw: the bottom floor, beside common/
    "detector": {"media"},
    "ingest": {"common", "media"},
    "workers": {"common", "detector", "media"},
    "api": {"common", "media"},  # HTTP routes (video streams, REST), mounted by the dashboard
    "dashboard": {"common", "media", "api"},
    "training": {"detector"},
    "tracking": {"common", "media"},
    "integrations": {"common"},  # MQTT and webhooks: consumers of common/ only
    "cctv": OURS,  # the launcher starts every service (lazily, per subcommand)
}
NO_TORCH = {"common", "media", "ingest", "api", "dashboard", "tracking", "integrations"}


def imported_top_levels(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(p for p in ALLOWED if (ROOT / p).is_dir()))
def test_package_imports_only_what_it_may(package):
    offending = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        imported = imported_top_levels(path)
        wrong = (imported & OURS) - ALLOWED[package] - {package}
        if package in NO_TORCH:
            wrong |= imported & {"torch", "torchvision"}
        if wrong:
            offending[str(path.relative_to(ROOT))] = sorted(wrong)
    assert not offending, f"imports against docs/architecture.md: {offending}"
