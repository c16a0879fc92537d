"""``cctv up`` restarts a service that exits, with backoff and a restart count, instead of
stopping everything."""

import logging
import os
import sys
import time

from cctv.up import Child


def test_an_exited_child_is_restarted_with_backoff(caplog):
    caplog.set_level(logging.INFO, logger="cctv.up")
    child = Child([sys.executable, "-c", "raise SystemExit(3)", "worker"], dict(os.environ), None)
    child.proc.wait(30)
    now = time.monotonic()
    starts = []
    for step in range(80):  # 0.1 s steps of a clock that only the test moves
        child.supervise(now + step / 10)
        if child.proc is not None and child.proc.pid not in starts:
            starts.append(child.proc.pid)
            child.proc.wait(30)
    assert child.restarts == 3  # at 1 s, 3.1 s and 7.2 s: waits of 1, 2 and 4 s
    for n, wait in ((1, 1), (2, 2), (3, 4), (4, 8)):
        assert f"worker exited with 3; restart #{n} in {wait}s" in caplog.text
    assert "worker started again (restart #3)" in caplog.text
