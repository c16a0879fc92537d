"""The image carries every package the services import: a package added to the tree without a
``COPY`` line in docker/Dockerfile would only fail in a user's container."""

from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from test_import_graph import NO_TORCH, OURS, imported_top_levels

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


# -- the two images' dependency groups (pyproject.toml) ---------------------------------------------
WORKER_PACKAGES = {"workers", "detector", "common", "runtime", "media"}
"""What the worker image (target `worker`: `cctv worker`) imports; the rest run from cctv:app."""


def group(name: str) -> list[str]:
    """pyproject.toml's dependencies plus optional group ``name``, the groups of this project
    that it names (``cctv-analytics[worker]``) expanded."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found = list(project["dependencies"])
    for line in project["optional-dependencies"][name]:
        requirement = Requirement(line)
        if canonicalize_name(requirement.name) == canonicalize_name(project["name"]):
            found += [r for extra in sorted(requirement.extras) for r in group(extra)]
        else:
            found.append(line)
    return found


def installed_modules(requirements: list[str]) -> set[str]:
    """Top-level modules that ``requirements`` install, their dependencies' included (read from
    this venv's metadata, where scripts/bootstrap installed every group)."""
    modules_of: dict[str, set[str]] = {}
    for module, dists in metadata.packages_distributions().items():
        for dist in dists:
            modules_of.setdefault(canonicalize_name(dist), set()).add(module)
    seen: set[str] = set()
    pending = [Requirement(r) for r in requirements]
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in seen or (requirement.marker and not requirement.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        pending += [Requirement(r) for r in metadata.requires(name) or []]
    return set().union(*(modules_of.get(name, set()) for name in seen))


def third_party_imports(packages: set[str]) -> set[str]:
    """Top-level modules that ``packages`` import (inside functions too), ours and the standard
    library's left out."""
    imported = set().union(*(imported_top_levels(path) for package in packages
                             for path in (ROOT / package).rglob("*.py")))
    return imported - OURS - set(sys.stdlib_module_names)


@pytest.mark.parametrize("extra, packages", [
    ("worker", WORKER_PACKAGES),
    ("app", NO_TORCH),  # ingest, tracker, rq-worker (replays), dashboard, api, mqtt, webhooks
])
def test_each_image_group_installs_what_its_services_import(extra, packages):
    missing = third_party_imports(packages) - installed_modules(group(extra))
    assert not missing, f"add to pyproject.toml's {extra!r} group the packages of {missing}"


def test_the_app_image_has_no_torch_and_the_worker_image_no_dashboard():
    assert "torch" not in installed_modules(group("app"))
    worker = installed_modules(group("worker"))
    assert not worker & {"streamlit", "pyarrow", "pandas", "matplotlib", "scipy",
                         "faster_coco_eval"}


def test_dev_installs_every_group():
    """scripts/bootstrap installs ``.[dev]``: every group, for the tests and training."""
    dev = set(group("dev"))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for extra in project["optional-dependencies"]:
        assert set(group(extra)) <= dev, extra
