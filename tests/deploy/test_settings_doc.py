"""docs/configuration.md is generated from the settings models and kept up to date."""

from __future__ import annotations

import re
from pathlib import Path

from cctv.settings_doc import SERVICE_MODELS, render
from common.cameras import CameraConfig
from ingest.settings import IngestSettings
from runtime.settings import CommonSettings, env_name
from workers.settings import WorkerSettings

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "configuration.md"


def test_committed_doc_is_up_to_date():
    assert DOC.read_text() == render(), \
        "regenerate: .venv/bin/python -m cctv.settings_doc > docs/configuration.md"


def test_every_setting_appears_with_its_env_var_default_and_bounds():
    text = render()
    for model in SERVICE_MODELS:
        for name, info in model.model_fields.items():
            row = next(line for line in text.splitlines()
                       if line.startswith(f"| `{name}` | `{env_name(name)}` |"))
            assert info.description and info.description.split()[0] in row
    worker = next(line for line in text.splitlines() if line.startswith("| `batch_size` |"))
    assert "`8`" in worker and "≥ 1, ≤ 256" in worker
    assert {IngestSettings, WorkerSettings} <= set(SERVICE_MODELS)
    models, todo = set(), [CommonSettings]
    while todo:
        models.add(model := todo.pop())
        todo += model.__subclasses__()
    assert models == set(SERVICE_MODELS), "a settings model is missing from SERVICE_MODELS"
    for key in CameraConfig.model_fields:
        assert f"| `{key}` |" in text


def test_variables_read_by_the_detector_are_real():
    code = "\n".join(p.read_text() for p in (ROOT / "detector").rglob("*.py"))
    section = render().split("## Read by the detector itself", 1)[1]
    names = re.findall(r"^\| `(CCTV_[A-Z_]+)` \|", section, re.M)
    assert names
    for name in names:
        assert f'os.environ.get("{name}"' in code, name
