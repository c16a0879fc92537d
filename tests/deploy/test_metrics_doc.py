"""docs/operations.md's metrics list names every Prometheus metric runtime/metrics.py defines
(a counter as Prometheus exposes it, with ``_total``)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
METRIC_NAME = re.compile(r"""["'](cctv_[a-z0-9_]+)["']""")


def defined_metrics() -> list[str]:
    """Every ``cctv_...`` name given as a string literal in runtime/metrics.py."""
    return sorted(set(METRIC_NAME.findall((ROOT / "runtime" / "metrics.py").read_text())))


def test_every_metric_is_in_the_operations_doc():
    doc = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    names = defined_metrics()
    assert "cctv_camera_lag_seconds" in names and "cctv_frames_read" in names  # the scan works
    missing = [n for n in names if f"`{n}`" not in doc and f"`{n}_total`" not in doc]
    assert not missing, f"metrics missing from docs/operations.md's list: {missing}"
