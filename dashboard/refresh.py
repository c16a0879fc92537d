"""Views that follow Redis without a reload: a small fragment re-reads a cheap signature of what
the view shows (its cameras, its events, its replay jobs and recordings) every
:data:`FOLLOW_S` seconds and reruns the page as soon as it differs from the one the page shows."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import streamlit as st

from runtime.outage import REDIS_DOWN

FOLLOW_S = 2.0
"""How often a view checks for what changed elsewhere (an added camera appears within this)."""

Shown = TypeVar("Shown")


def follow(signature: Callable[[], Shown], every_s: float = FOLLOW_S) -> Shown:
    """``signature()`` for the view to show; the whole page reruns once it returns something
    else. A lost Redis raises here (the page says so); later, the check waits for it quietly."""
    shown = signature()

    @st.fragment(run_every=every_s)
    def watch() -> None:
        try:
            changed = signature() != shown
        except REDIS_DOWN:
            return
        if changed:
            st.rerun(scope="app")

    watch()
    return shown
