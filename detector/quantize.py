"""int8 networks: the fp32 ONNX export quantized by onnxruntime, calibrated on frames.

The scheme (``SCHEME``; what else was tried, with figures, is in docs/architecture.md):
static quantization to onnxruntime's QOperator format (``QLinearConv``: uint8 activations, int8
weights per output channel, which AVX-512 VNNI and AVX2 run natively), activation ranges from the
min and max seen on the calibration frames; activations (ReLU, ReLU6) and residual additions run
quantized too (otherwise each one dequantizes and quantizes again: mb1-ssd's ReLUs left in fp32
took a quarter of its int8 time). Three kinds of node are kept in fp32: the first
convolution (it reads the image), the box and class heads (the last convolution of each: their
outputs are the scores and box codes the tolerance is about), and everything after them (box
decoding, sigmoid or softmax).

Quantized models are cached in ``models/onnx-cache/`` as ``<weights>-int8-<calibration>.onnx``;
``<weights>-int8.calibration`` names the calibration in use for those weights (the last one
``calibrate`` made), else the default one, from frames of the bundled sample videos.
"""

from __future__ import annotations

import hashlib
import itertools
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import onnx

from .checkpoints import atomic_write, models_dir
from .config import ModelConfig
from .errors import DetectorError
from .export import INPUT_NAME
from .frames import Source, iter_frames, sample_videos
from .preprocess import preprocess_batch

SCHEME = "qoperator-u8s8-per-channel-minmax-fp32-first-conv-and-heads-v2"
CALIBRATION_BATCH = 8  # frames per calibration run; ranges are merged every few batches
DEFAULT_EVERY, DEFAULT_OFFSETS = 10, (3, 7)  # the default calibration: frames 3, 7, 13, 17, ...


def cache_path(key: str, calibration: str) -> Path:
    """The cached int8 model of the weights ``key`` calibrated on ``calibration``."""
    return models_dir() / "onnx-cache" / f"{key}-int8-{calibration}.onnx"


def _pointer(key: str) -> Path:
    return models_dir() / "onnx-cache" / f"{key}-int8.calibration"


def current_calibration(key: str) -> str:
    """The calibration in use for the weights ``key``: the last ``calibrate``'s, else the default."""
    try:
        return _pointer(key).read_text(encoding="utf-8").strip() or default_calibration()
    except OSError:
        return default_calibration()


def use_calibration(key: str, calibration: str) -> None:
    """Make ``calibration`` the one ``precision="int8"`` loads for the weights ``key``."""
    atomic_write(_pointer(key), lambda f: f.write(calibration.encode() + b"\n"))


def default_calibration() -> str:
    """The name of the default calibration (frames of the sample videos, by ``DEFAULT_OFFSETS``)."""
    return "default-" + hashlib.sha256(f"{SCHEME} {DEFAULT_EVERY} {DEFAULT_OFFSETS}".encode()).hexdigest()[:12]


def default_frames() -> Iterator[np.ndarray]:
    """The default calibration's frames: 3, 7, 13, 17, ... of each sample video (never frame
    0, 10, 20, ..., nor the golden frames, which agreement is measured on)."""
    sources = [Source(str(p), True) for p in sample_videos()]
    for offset in DEFAULT_OFFSETS:
        yield from iter_frames(sources, DEFAULT_EVERY, offset)


def network_batches(frames: Iterable[np.ndarray], config: ModelConfig,
                    size: int = CALIBRATION_BATCH) -> Iterator[np.ndarray]:
    """BGR frames -> network input batches of ``size`` frames (the last one may be smaller)."""
    frames = iter(frames)
    while chunk := list(itertools.islice(frames, size)):
        yield preprocess_batch(chunk, config.image_size, config.resize, config.mean, config.std)


class _Batches:
    """onnxruntime's ``CalibrationDataReader`` over network input batches, hashing what it feeds
    (the calibration's name) and calling ``progress(n)`` after each batch of ``n`` frames."""

    def __init__(self, batches: Iterable[np.ndarray], progress: Callable[[int], object]):
        self.batches = iter(batches)
        self.progress = progress
        self.digest = hashlib.sha256(SCHEME.encode())

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self.batches, None)
        if batch is None:
            return None
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        self.digest.update(batch.tobytes())
        self.progress(len(batch))
        return {INPUT_NAME: batch}


def _fp32_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the convolutions kept in fp32: the one that reads the input, and the heads (those
    whose output is reshaped into per-prior predictions)."""
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    keep = []
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        reshaped = any(c.op_type in ("Transpose", "Reshape") for c in consumers.get(node.output[0], []))
        if node.input[0] == INPUT_NAME or reshaped:
            keep.append(node.name)
    return keep


def quantize(fp32: bytes, batches: Iterable[np.ndarray],
             progress: Callable[[int], object] = lambda n: None) -> tuple[bytes, str]:
    """Quantize the fp32 ONNX model ``fp32`` (detectNet layout, dynamic batch) on the network
    input ``batches`` (float32 ``[n, 3, S, S]``). Returns the int8 model and the calibration's
    name (a hash of the scheme and of every input fed)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    batches = iter(batches)
    first = next(batches, None)
    if first is None:
        raise DetectorError("no calibration frames: pass images or videos with at least one frame")
    reader = _Batches(itertools.chain([first], batches), progress)
    with tempfile.TemporaryDirectory(prefix="cctv-int8-") as folder:
        plain, prepared, out = (Path(folder) / name for name in ("fp32.onnx", "prepared.onnx", "int8.onnx"))
        plain.write_bytes(fp32)
        # Folds the exporter's Constant nodes into initializers and infers shapes: the quantizer
        # needs both to find each convolution's weights and channels.
        quant_pre_process(plain, prepared, skip_symbolic_shape=True)
        model = onnx.load(prepared)
        quantize_static(
            model, out, reader, quant_format=QuantFormat.QOperator, op_types_to_quantize=["Conv", "Relu", "Clip", "Add"],
            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            nodes_to_exclude=_fp32_nodes(model), calibrate_method=CalibrationMethod.MinMax,
            extra_options={"CalibMaxIntermediateOutputs": 4},
        )
        return out.read_bytes(), reader.digest.hexdigest()[:12]


def save(key: str, calibration: str, data: bytes) -> Path:
    """Cache the int8 model of the weights ``key`` calibrated on ``calibration``."""
    path = cache_path(key, calibration)
    atomic_write(path, lambda f: f.write(data))
    return path
