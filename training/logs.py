"""Training records on disk: ``steps.csv`` (every step), ``metrics.csv`` (every epoch), ``loss.png``."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)


def write_csv(path: Path, rows: Sequence[dict]) -> None:
    """Rewrite ``path`` with ``rows`` (columns from the first row), atomically."""
    if not rows:
        return
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def plot_losses(steps: Sequence[dict], epochs: Sequence[dict], path: Path) -> None:
    """Training loss per step (skipped steps marked) and validation loss per epoch."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    x = range(1, len(steps) + 1)
    ax.plot(x, [s["loss"] for s in steps], lw=0.8, label="train loss (step)")
    skipped = [i for i, s in zip(x, steps) if s["skipped"]]
    if skipped:
        ax.scatter(skipped, [0] * len(skipped), marker="x", color="red", label="skipped (non-finite)")
    ends = [sum(1 for s in steps if s["epoch"] <= e["epoch"]) for e in epochs]
    val = [e["val_loss"] for e in epochs]
    if any(math.isfinite(v) for v in val):
        ax.plot(ends, val, "o-", label="validation loss (epoch)")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
