"""The image carries every package the services import: a package added to the tree without a
``COPY`` line in docker/Dockerfile would only fail in a user's container."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_IN_IMAGE = {"training", "tests", "bench"}
"""Training runs from a checkout (docs/training.md); tests and benchmarks are not shipped."""


def test_every_service_package_is_copied_into_the_image():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - NOT_IN_IMAGE
    copied = set(re.findall(r"^COPY (\w+) \./\1$", (ROOT / "docker" / "Dockerfile").read_text(),
                            re.M))
    assert packages - copied == set(), "add a COPY line to docker/Dockerfile"
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert not packages & ignored, ".dockerignore leaves out a package the image needs"
