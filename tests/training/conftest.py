"""Training tests run torch on 2 threads, as CI's 2 cores allow."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _two_threads():
    """CI has 2 cores: keep torch at 2 threads in every training test."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)
