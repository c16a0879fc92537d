"""Schemathesis against the dashboard as ``cctv dashboard`` serves it: every check it has, over
the routes of ``/api/openapi.json``, finds no answer that disagrees with the document."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from running import dashboard

ST = Path(sys.executable).with_name("st")
HOOKS = "schemathesis_hooks"
"""The request filter (tests/api/schemathesis_hooks.py) for the rule a schema cannot state."""
CONFIG = Path(__file__).with_name("schemathesis.toml")
"""Statuses the checks expect beyond their defaults (413 for a body over the size limit)."""


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_schemathesis_finds_no_failure(redis_url, tmp_path):
    with dashboard({"REDIS_URL": redis_url, "CCTV_RUN_DIR": str(tmp_path)}) as base:
        env = dict(os.environ, SCHEMATHESIS_HOOKS=HOOKS,
                   PYTHONPATH=os.pathsep.join([str(Path(__file__).parent),
                                               os.environ.get("PYTHONPATH", "")]))
        run = subprocess.run([str(ST), "--config-file", str(CONFIG), "run",
                              f"{base}/api/openapi.json", "--checks", "all",
                              "--max-examples", "30", "--workers", "1", "--max-time", "120",
                              "--request-timeout", "10", "--no-color"],
                             env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    report = "\n".join(line[:300] for line in run.stdout.splitlines())  # a body can be 64 kB
    assert run.returncode == 0, report[-8000:] + run.stderr[-2000:]
