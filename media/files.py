"""Output files that appear whole or not at all, and never over another file.

A file is written under a hidden partial name in its target folder, then linked under its final
name (``os.link`` fails rather than replace an existing file): ``NAME.mp4`` if free, else
``NAME-1.mp4``, ``NAME-2.mp4``, ... Files published together share one number.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path
from typing import Sequence


def numbered(path: Path, n: int) -> Path:
    """``path`` itself for 0, else ``STEM-n.SUFFIX`` beside it."""
    return path if n == 0 else path.with_name(f"{path.stem}-{n}{path.suffix}")


def partial_file(final: Path) -> Path:
    """A new, empty hidden file in ``final``'s folder that keeps its suffix (``.NAME.xyz.partial.mp4``)."""
    fd, name = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=f".partial{final.suffix}",
                                dir=final.parent)
    os.close(fd)
    return Path(name)


def publish(pairs: Sequence[tuple[Path, Path]]) -> list[Path]:
    """Link each ``(partial, final)`` partial under its final name, all with the first number
    for which none of the names exists; remove the partials. Returns the names used."""
    try:
        for n in itertools.count():
            linked: list[Path] = []
            try:
                for partial, final in pairs:
                    target = numbered(final, n)
                    os.link(partial, target)
                    linked.append(target)
            except FileExistsError:
                for target in linked:
                    target.unlink()
                continue
            return linked
    finally:
        for partial, _ in pairs:
            Path(partial).unlink(missing_ok=True)
    raise AssertionError("unreachable")


class PendingFiles:
    """Files of one folder written under partial names and published by :meth:`commit`.

    Used as a context manager, whatever was not committed is removed on exit (a failure leaves
    nothing under a final name).
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.pending: list[tuple[Path, Path]] = []

    def reserve(self, name: str) -> Path:
        """A partial file to write; it becomes ``folder/name`` (or a numbered name) on commit."""
        final = self.folder / name
        partial = partial_file(final)
        self.pending.append((partial, final))
        return partial

    def commit(self, together: bool = False) -> list[Path]:
        """Publish every reserved file, each under its own first free name, or with
        ``together`` all under one number (``clip.mp4`` and ``clip.csv`` stay a pair)."""
        for partial, _ in self.pending:
            partial.chmod(0o644)
        groups = [self.pending] if together else [[pair] for pair in self.pending]
        done = [path for group in groups for path in publish(group)]
        self.pending = []
        return done

    def discard(self) -> None:
        for partial, _ in self.pending:
            partial.unlink(missing_ok=True)
        self.pending = []

    def __enter__(self) -> "PendingFiles":
        return self

    def __exit__(self, *exc_info) -> None:
        self.discard()
