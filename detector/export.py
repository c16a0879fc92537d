"""ONNX export in the layout jetson-inference's detectNet loads.

Input ``input_0`` (N x 3 x S x S, already normalized as the model's config says); outputs
``scores`` (N x P x C, softmax or sigmoid per the config) and ``boxes`` (N x P x 4, corner form
``x1, y1, x2, y2``, normalized). ``labels.txt`` is written beside the ``.onnx``.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from contextlib import ExitStack
from pathlib import Path

import torch
from torch import nn

from .config import ModelConfig
from .errors import DetectorError
from .network import DecodedSSD, frozen_trace

INPUT_NAME = "input_0"
OUTPUT_NAMES = ("scores", "boxes")
DEFAULT_OPSET = 13
MIN_OPSET, MAX_OPSET = 9, 20  # what torch's TorchScript exporter writes (with constant folding)


def _temp_beside(path: Path, stack: ExitStack) -> Path:
    """A temporary file name in ``path``'s folder (same file system, for ``os.replace``),
    removed on exit unless it has been renamed away."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    temp = Path(name)
    temp.chmod(0o644)  # mkstemp makes 0600; the results are ordinary shared files
    stack.callback(temp.unlink, missing_ok=True)
    return temp


def onnx_bytes(
    model: nn.Module, config: ModelConfig, batch_size: int = 1, dynamic_batch: bool = False, opset: int = DEFAULT_OPSET
) -> bytes:
    """The ONNX model (detectNet layout) of ``model`` as bytes; the batch dimension is
    ``batch_size``, or symbolic with ``dynamic_batch``."""
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise DetectorError(f"opset {opset} is not supported: pass --opset {MIN_OPSET}..{MAX_OPSET}")
    if batch_size < 1:
        raise DetectorError(f"batch size must be >= 1, got {batch_size}")
    example = torch.zeros(batch_size, 3, config.image_size, config.image_size)
    axes = {name: {0: "batch"} for name in (INPUT_NAME, *OUTPUT_NAMES)} if dynamic_batch else None
    buffer = io.BytesIO()
    try:
        # The TorchScript exporter (dynamo=False: no onnxscript needed) on a frozen trace.
        frozen = frozen_trace(DecodedSSD(model.float(), config).cpu(), example)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deprecation notices, not errors
            torch.onnx.export(frozen, (example,), buffer, dynamo=False, opset_version=opset,
                              input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES),
                              dynamic_axes=axes, do_constant_folding=True)
    except Exception as exc:  # the exporter raises many types; report it in one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DetectorError(f"ONNX export failed (opset {opset}): {first[:200]}") from None
    return buffer.getvalue()


def export_onnx(
    model: nn.Module,
    config: ModelConfig,
    out: str | os.PathLike,
    batch_size: int = 1,
    dynamic_batch: bool = False,
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Write ``out`` (ONNX) and ``labels.txt`` beside it; returns the ONNX path.

    Both files are written under temporary names and renamed at the end, so a failed export
    leaves nothing.
    """
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise DetectorError(f"output {out} must end in .onnx: pass --out FILE.onnx")
    if not out.parent.is_dir():
        raise DetectorError(f"folder {out.parent} does not exist: create it or pass another --out")
    data = onnx_bytes(model, config, batch_size, dynamic_batch, opset)
    with ExitStack() as stack:
        onnx_temp, labels_temp = _temp_beside(out, stack), _temp_beside(out.with_name("labels.txt"), stack)
        onnx_temp.write_bytes(data)
        labels_temp.write_text("\n".join(config.labels) + "\n", encoding="utf-8")
        os.replace(onnx_temp, out)
        os.replace(labels_temp, out.with_name("labels.txt"))
    return out
