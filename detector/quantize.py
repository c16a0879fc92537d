"""int8 networks: the fp32 ONNX export quantized by onnxruntime, calibrated on frames.

The scheme (``SCHEME``; what else was tried, with figures, is in docs/architecture.md):
static quantization to onnxruntime's QOperator format (``QLinearConv``: uint8 activations, int8
weights per output channel, which AVX-512 VNNI and AVX2 run natively), activation ranges from the
min and max seen on the calibration frames; every convolution (the first, which reads the image,
and the box and class heads too), activation (ReLU, ReLU6) and residual addition runs quantized
(a node left in fp32 dequantizes and quantizes around it, and onnxruntime adds layout transposes);
what follows the heads (box decoding, sigmoid or softmax) stays in fp32. Then bias correction
(Nagel et al. 2019, measured rather than derived): convolution by convolution in graph order, each
output channel's int32 bias is shifted by the mean error its output has against fp32 on the first
``BIAS_FRAMES`` calibration frames, every convolution before it already corrected. Quantization
makes such systematic shifts, which accumulate layer by layer; correcting them more than halves
the score error and is what lets the first convolution and the heads be quantized.

Quantized models are cached in ``models/onnx-cache/`` as ``<weights>-int8-<calibration>.onnx``;
``<weights>-int8.calibration`` names the calibration in use for those weights (the last one
``calibrate`` made), else the default one, from frames of the bundled sample videos.
"""

from __future__ import annotations

import hashlib
import itertools
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

import numpy as np
import onnx

from .checkpoints import atomic_write, models_dir
from .config import ModelConfig
from .errors import DetectorError
from .export import INPUT_NAME
from .frames import Source, iter_frames, sample_videos
from .preprocess import preprocess_batch

if TYPE_CHECKING:
    import onnxruntime

SCHEME = "qoperator-u8s8-per-channel-minmax-all-convs-bias-corrected-v3"
CALIBRATION_BATCH = 8  # frames per calibration run; ranges are merged every few batches
BIAS_FRAMES = 48  # the first calibration frames, which bias correction measures on
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
    (the calibration's name), keeping the first ``BIAS_FRAMES`` frames' batches (``kept``) and
    calling ``progress(n)`` after each batch of ``n`` frames."""

    def __init__(self, batches: Iterable[np.ndarray], progress: Callable[[int], object]):
        self.batches = iter(batches)
        self.progress = progress
        self.digest = hashlib.sha256(SCHEME.encode())
        self.kept: list[np.ndarray] = []

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self.batches, None)
        if batch is None:
            return None
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        self.digest.update(batch.tobytes())
        kept = sum(len(b) for b in self.kept)
        if kept < BIAS_FRAMES:
            self.kept.append(batch[:BIAS_FRAMES - kept])
        self.progress(len(batch))
        return {INPUT_NAME: batch}


def _session(model: onnx.ModelProto, outputs: list[tuple[str, int]]) -> onnxruntime.InferenceSession:
    """An onnxruntime session of the part of ``model`` that computes the tensors ``outputs``
    (``(name, element type)``), which are its outputs."""
    import onnxruntime

    needed, nodes = {name for name, _ in outputs}, []
    for node in reversed(model.graph.node):  # ONNX nodes are in topological order
        if needed.intersection(node.output):
            nodes.append(node)
            needed.update(node.input)
    part = onnx.helper.make_graph(
        reversed(nodes), model.graph.name, [i for i in model.graph.input if i.name in needed],
        [onnx.helper.make_tensor_value_info(name, kind, None) for name, kind in outputs],
        [t for t in model.graph.initializer if t.name in needed])
    exposed = onnx.helper.make_model(part, opset_imports=model.opset_import, ir_version=model.ir_version)
    return onnxruntime.InferenceSession(exposed.SerializeToString(), providers=["CPUExecutionProvider"])


def _channel_means(session: onnxruntime.InferenceSession, batches: list[np.ndarray],
                   transform: Callable[[int, np.ndarray], np.ndarray]) -> list[np.ndarray]:
    """Per-channel means (float64, over frames and pixels) of each output of ``session`` on
    ``batches``, after ``transform(output index, value)``."""
    sums: dict[int, np.ndarray] = {}
    for batch in batches:
        for index, value in enumerate(session.run(None, {INPUT_NAME: batch})):
            mean = transform(index, value).mean(axis=(0, 2, 3), dtype=np.float64)
            sums[index] = sums.get(index, 0) + mean * len(batch)
    frames = sum(len(batch) for batch in batches)
    return [sums[index] / frames for index in range(len(sums))]


def correct_biases(fp32: onnx.ModelProto, int8: onnx.ModelProto, batches: list[np.ndarray]) -> None:
    """Bias correction, in place, of each ``QLinearConv`` of ``int8`` that has a bias, in graph
    order: the per-channel mean error of its output against ``fp32``'s (clipped to the int8
    output's range) on ``batches``, the convolutions before it already corrected, is taken off
    its bias."""
    weights = {tensor.name: tensor for tensor in int8.graph.initializer}

    def value(name: str) -> np.ndarray:
        return onnx.numpy_helper.to_array(weights[name])

    convs = [node for node in int8.graph.node if node.op_type == "QLinearConv" and len(node.input) == 9]
    ranges = [(float(value(c.input[6])), int(value(c.input[7]))) for c in convs]  # output scale, zero point
    names = [c.output[0].removesuffix("_quantized") for c in convs]
    missing = set(names) - {name for node in fp32.graph.node for name in node.output}
    if missing:
        raise DetectorError(f"bias correction: no fp32 tensor for the quantized outputs {sorted(missing)[:3]}")

    def clipped(index: int, out: np.ndarray) -> np.ndarray:
        scale, zero = ranges[index]
        return np.clip(out, -zero * scale, (255 - zero) * scale)

    reference = _channel_means(_session(fp32, [(n, onnx.TensorProto.FLOAT) for n in names]), batches, clipped)
    for conv, (scale, zero), expected in zip(convs, ranges, reference):
        session = _session(int8, [(conv.output[0], onnx.TensorProto.UINT8)])
        (mean,) = _channel_means(session, batches, lambda _, out: (out.astype(np.float32) - zero) * scale)
        step = float(value(conv.input[1])) * value(conv.input[4]).astype(np.float64)  # input x weight scale
        bias = value(conv.input[8]) - np.round((mean - expected) / step).astype(np.int32)
        weights[conv.input[8]].CopyFrom(onnx.numpy_helper.from_array(bias, conv.input[8]))


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
        quantize_static(
            onnx.load(prepared), out, reader, quant_format=QuantFormat.QOperator,
            op_types_to_quantize=["Conv", "Relu", "Clip", "Add"],
            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax, extra_options={"CalibMaxIntermediateOutputs": 4},
        )
        int8 = onnx.load(out)
        correct_biases(onnx.load(prepared), int8, reader.kept)
        return int8.SerializeToString(), reader.digest.hexdigest()[:12]


def save(key: str, calibration: str, data: bytes) -> Path:
    """Cache the int8 model of the weights ``key`` calibrated on ``calibration``."""
    path = cache_path(key, calibration)
    atomic_write(path, lambda f: f.write(data))
    return path
