"""Paths named by records in Redis, confined to their folder before any read, write or delete.

Anyone who can write to Redis can write a record, so a name from Redis is never trusted: it is
resolved under its folder (symlinks followed) and refused when the result lies outside it.
"""

from __future__ import annotations

from pathlib import Path


class OutsideFolder(ValueError):
    """A name that resolves outside the folder it must stay in."""


def confined(folder: Path, name: str) -> Path:
    """``folder / name`` resolved; :class:`OutsideFolder` when it is not inside ``folder``
    (absolute names, ``..``, a symlink out, an empty name)."""
    root = folder.resolve()
    path = (root / name).resolve() if name else root
    if path == root or not path.is_relative_to(root):
        raise OutsideFolder(f"{name[:120]!r} is outside {folder}")
    return path
