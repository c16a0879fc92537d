"""Files that readers see whole or not at all, replacing the file of the same name.

A file is written under a hidden temporary name in its target folder (the same file system, so
``os.replace`` is one atomic rename), then renamed over its final name. Readers (the API serving
a snapshot, a browser playing a clip) never see half a file. Output that must never replace
another file is :mod:`media.files`'s job instead.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

FILE_MODE = 0o644
"""Mode of every file written here: readable by the dashboard's user (mkstemp makes 0600)."""


def sibling_temp(path: Path) -> Path:
    """A new, empty hidden file beside ``path`` that keeps its suffix
    (``.NAME.xyz.partial.mp4``: encoders that look at the suffix still see it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".partial{path.suffix}",
                                dir=path.parent)
    os.close(fd)
    os.chmod(name, FILE_MODE)
    return Path(name)


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yields a temporary file beside ``path`` to write; on success it becomes ``path``, on an
    exception it is removed and ``path`` is left as it was."""
    partial = sibling_temp(path)
    try:
        yield partial
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all, synced to disk before it takes the name
    (a crash leaves the old file or the new one, never an empty one)."""
    with replacing(path) as partial, open(partial, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
