"""Small modules: no product module over 400 lines (a concept that outgrows that is two)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("common", "runtime", "media", "detector", "ingest", "workers", "replay", "tracking",
           "api", "dashboard", "integrations", "training", "cctv")
MAX_LINES = 400


def test_no_product_module_is_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for package in PRODUCT
            for p in (ROOT / package).rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"split these: {long}"
