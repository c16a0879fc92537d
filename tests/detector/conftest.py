"""Fixtures for the SSDLite tests: the golden TensorFlow reference and the imported person model.

A test taking ``golden_frame`` runs once per golden frame (the stem of ``golden/ref/<name>.npz``);
``golden`` is the folder (``<repo>/../shared/golden``). Both skip when that folder is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from detector.errors import DetectorError
from detector.models.ssdlite import SSDLiteMobileNetV2
from detector.tf_import import find_ssdlite_person_pb, import_ssdlite

GOLDEN = (Path(__file__).resolve().parents[2] / ".." / "shared" / "golden").resolve()
ABSENT = f"golden reference {GOLDEN} absent (it ships in the shared/ folder beside the checkout)"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "golden_frame" in metafunc.fixturenames:
        names = sorted(p.stem for p in (GOLDEN / "ref").glob("*.npz"))
        metafunc.parametrize("golden_frame", names or [pytest.param(None, marks=pytest.mark.skip(reason=ABSENT))])


@pytest.fixture(scope="session")
def golden() -> Path:
    if not GOLDEN.is_dir():
        pytest.skip(ABSENT)
    return GOLDEN


@pytest.fixture(scope="session")
def person_pb() -> Path:
    try:
        return find_ssdlite_person_pb()
    except DetectorError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def person_model(person_pb) -> tuple[SSDLiteMobileNetV2, list[str]]:
    """The person detector imported straight from the graph (BatchNorm kept), eval mode."""
    return import_ssdlite(person_pb)
