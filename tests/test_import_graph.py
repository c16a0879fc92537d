"""Dependencies point one way (docs/architecture.md): each package imports only what it may."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = {"common", "runtime", "media", "detector", "ingest", "workers", "replay", "api", "dashboard",
        "training", "tracking", "cctv", "integrations"}
ALLOWED = {
    "common": set(),  # the contract: keys, messages, records, schemas
    "runtime": {"common"},  # what services share at run time: Redis, outages, logs, metrics
    "media": set(),  # decode, encode, draw: the bottom floor, beside common/
    "detector": {"media"},
    "ingest": {"common", "runtime", "media"},
    "workers": {"common", "runtime", "detector", "media"},
    "replay": {"common", "runtime", "media", "ingest"},  # a file played through ingest's runner
    "api": {"common", "runtime", "media"},  # HTTP routes (video streams, REST), mounted by the dashboard
    "dashboard": {"common", "runtime", "media", "api", "replay"},
    "training": {"detector"},
    "tracking": {"common", "runtime", "media"},
    "integrations": {"common", "runtime"},  # MQTT and webhooks: consumers of events and counts
    "cctv": OURS,  # the launcher starts every service (lazily, per subcommand)
}
NO_TORCH = {"common", "runtime", "media", "ingest", "replay", "api", "dashboard", "tracking",
            "integrations"}
CONTRACT_ONLY = {"redis", "rq", "requests", "paho", "prometheus_client", "streamlit", "starlette",
                 "uvicorn", "av", "cv2", "numpy", "torch", "threading", "subprocess", "socket",
                 "multiprocessing", "asyncio", "concurrent", "wsgiref", "http", "fcntl"}
"""What common/ never imports: no client library, server, thread or subprocess."""


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


def test_common_is_the_contract_only():
    offending = {str(p.relative_to(ROOT)): sorted(imported_top_levels(p) & CONTRACT_ONLY)
                 for p in sorted((ROOT / "common").rglob("*.py"))
                 if imported_top_levels(p) & CONTRACT_ONLY}
    assert not offending, f"common/ is the contract only: {offending}"
