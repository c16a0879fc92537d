"""Where model files live, and reading and writing them safely (one-line errors, atomic writes)."""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import torch
from torch import Tensor

from .errors import DetectorError


def read_labels(path: str | os.PathLike) -> list[str]:
    """Class names from a ``labels.txt`` (one a line, ``BACKGROUND`` first); blank lines skipped."""
    path = Path(path)
    if not path.is_file():
        raise DetectorError(f"labels file {path} not found: put labels.txt (one class a line, "
                            "BACKGROUND first) beside the checkpoint or pass its path")
    labels = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not labels:
        raise DetectorError(f"labels file {path} is empty: write one class name a line, BACKGROUND first")
    return labels


def read_state_dict(path: Path, kind: str) -> dict[str, Tensor]:
    """The ``state_dict`` in a torch checkpoint (plain, or under ``state_dict``/``model``), read
    with ``weights_only=True``; a one-line ``DetectorError`` for anything else."""
    if not path.is_file():
        raise DetectorError(f"checkpoint {path} not found: check the path after '{kind}:'")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "global" in str(exc).lower():  # weights_only refused a class outside its allow-list
            raise DetectorError(f"{path} is not a readable torch checkpoint: it holds Python objects "
                                "other than tensors, refused for safety; save a plain state_dict") from None
        raise DetectorError(f"{path} is not a readable torch checkpoint (not a torch file, or "
                            "corrupt): pass a state_dict saved with torch.save") from None
    except Exception as exc:  # torch raises many types for truncated or foreign files
        reason = (str(exc).strip() or type(exc).__name__).splitlines()[0].split(". ")[0][:120]
        raise DetectorError(f"{path} is not a readable torch checkpoint (corrupt or not a torch "
                            f"file: {reason}): pass a state_dict saved with torch.save") from None
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise DetectorError(f"{path} holds no state_dict of tensors: "
                            "save it with torch.save(model.state_dict(), path)")
    return obj


def labels_for(checkpoint: Path, labels_path: str | os.PathLike | None, num_classes: int) -> list[str]:
    """The labels of ``checkpoint`` (``labels.txt`` beside it unless ``labels_path`` is given),
    which must name ``num_classes`` classes."""
    labels = read_labels(labels_path if labels_path is not None else checkpoint.parent / "labels.txt")
    if len(labels) != num_classes:
        raise DetectorError(f"labels file has {len(labels)} classes but {checkpoint} has {num_classes}: "
                            "use the labels.txt written with this checkpoint")
    return labels


def load_strict(model: torch.nn.Module, state: dict[str, Tensor], path: Path, kind: str) -> None:
    """``model.load_state_dict(state, strict=True)``, after checking keys and shapes so that a
    mismatch is one line naming the first offending key."""
    expected = model.state_dict()
    for key, value in expected.items():
        if key not in state:
            raise DetectorError(f"{path} lacks key {key}: it is not an {kind} checkpoint")
        if state[key].shape != value.shape:
            raise DetectorError(f"{path}: {key} has shape {list(state[key].shape)}, {kind} "
                                f"expects {list(value.shape)}: pass an {kind} checkpoint")
    unexpected = [key for key in state if key not in expected]
    if unexpected:
        raise DetectorError(f"{path} has unexpected key {unexpected[0]}: it is not an {kind} checkpoint")
    model.load_state_dict(state, strict=True)


def models_dir() -> Path:
    """``$CCTV_MODELS_DIR`` if set, else ``models/`` in the checkout (beside ``detector/``)."""
    env = os.environ.get("CCTV_MODELS_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "models"


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write ``path`` through a temp file in its folder and ``os.replace``: never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
