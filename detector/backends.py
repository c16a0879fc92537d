"""Ways to run a :class:`~detector.network.DecodedSSD`: all map a float32 input batch
Tensor[N, 3, S, S] (on the CPU, as :mod:`detector.preprocess` makes it) to (scores Tensor[N, P, C],
boxes Tensor[N, P, 4]), on the device the network runs on (the CPU for onnxruntime).

- ``torch``: eager PyTorch (BatchNorm already folded by the loaders), channels-last.
- ``torchscript``: the same, traced and frozen (TorchScript fuses convolution and activation).
- ``onnxruntime``: the exported ONNX model (the detectNet file) in onnxruntime; with
  ``precision="int8"`` its quantized version (:mod:`detector.quantize`), the only int8 backend.
- ``auto`` (the default): onnxruntime on CPU, where it measures fastest (``bench/detector_speed.py``),
  eager PyTorch in fp16 on CUDA.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Callable, Literal

import torch
from torch import Tensor, nn

from . import quantize
from .checkpoints import atomic_write, models_dir
from .config import ModelConfig
from .errors import DetectorError
from .export import INPUT_NAME, onnx_bytes
from .network import DecodedSSD, frozen_trace

log = logging.getLogger(__name__)

Backend = Literal["auto", "torch", "torchscript", "onnxruntime"]
BACKENDS: tuple[str, ...] = ("torch", "torchscript", "onnxruntime")
PRECISIONS: tuple[str, ...] = ("fp32", "int8")
Network = Callable[[Tensor], tuple[Tensor, Tensor]]


class OnnxRuntimeNetwork:
    """An onnxruntime session of a model in the detectNet layout, as a network."""

    def __init__(self, session):
        self.session = session
        self.input_name = INPUT_NAME

    def __call__(self, x: Tensor) -> tuple[Tensor, Tensor]:
        batch = x.float().contiguous().cpu().numpy()
        scores, boxes = self.session.run(None, {self.input_name: batch})
        return torch.from_numpy(scores), torch.from_numpy(boxes)


def onnxruntime_session(model: bytes, device: torch.device):
    """An onnxruntime session of ``model`` (ONNX bytes) with torch's thread count, on the CUDA
    provider when ``device`` is CUDA and onnxruntime has it."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    # Threads spin between the operators of a run (waking them per operator costs more), but
    # stop as soon as the run returns, so they do not slow the preprocessing (NumPy and
    # OpenCV, on the same cores) that comes next; measured with bench/detector_speed.py.
    options.add_session_config_entry("session.force_spinning_stop", "1")
    providers = ["CPUExecutionProvider"]
    if device.type == "cuda" and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    return onnxruntime.InferenceSession(model, options, providers=providers)


def weights_digest(model: nn.Module, config: ModelConfig) -> str:
    """A key of these exact weights and this config (exporting takes seconds, hashing the
    weights milliseconds): the fp32 ONNX export is cached under it, int8 models too."""
    digest = hashlib.sha256(f"{torch.__version__} {config.score} {config.center_variance} {config.size_variance}".encode())
    digest.update(config.priors.float().numpy().tobytes())
    for name, value in model.state_dict().items():
        digest.update(name.encode())
        digest.update(value.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:24]


def cached_onnx(path: Path, build: Callable[[], bytes], device: torch.device):
    """The ONNX model cached at ``path`` and a session of it, or (not cached yet, or unreadable)
    ``build()``'s, which is cached for the next start: ``(model bytes, session)``."""
    try:
        data = path.read_bytes()
        return data, onnxruntime_session(data, device)
    except Exception:
        data = build()
        session = onnxruntime_session(data, device)
        try:
            atomic_write(path, lambda f: f.write(data))
        except OSError:
            pass  # the cache only saves start-up time
        return data, session


def fp32_onnx(model: nn.Module, config: ModelConfig, device: torch.device = torch.device("cpu")):
    """The fp32 ONNX export (dynamic batch) of ``model``, cached in ``models/onnx-cache/``:
    ``(model bytes, session)``."""
    path = models_dir() / "onnx-cache" / f"{weights_digest(model, config)}.onnx"
    return cached_onnx(path, lambda: onnx_bytes(model, config, dynamic_batch=True), device)


def int8_session(model: nn.Module, config: ModelConfig, calibration: str | None = None):
    """The int8 model of ``model`` in ``calibration`` (default: the current one, see
    :mod:`detector.quantize`); the default calibration is built on first use from the sample
    videos, then cached."""
    key = weights_digest(model, config)
    calibration = calibration or quantize.current_calibration(key)

    def build() -> bytes:
        if not calibration.startswith("default-"):
            raise DetectorError(f"int8 calibration {calibration} of this model is missing from "
                                f"{quantize.cache_path(key, calibration).parent}: run `python -m detector calibrate` again")
        log.info("int8: calibrating on frames of the sample videos (once; cached in models/onnx-cache/)")
        batches = quantize.network_batches(quantize.default_frames(), config)
        return quantize.quantize(fp32_onnx(model, config)[0], batches)[0]

    return cached_onnx(quantize.cache_path(key, calibration), build, torch.device("cpu"))[1]


def compile_network(
    model: nn.Module, config: ModelConfig, backend: str, device: torch.device, dtype: torch.dtype,
    precision: str = "fp32", calibration: str | None = None,
) -> Network:
    """Wrap ``model`` (already in eval mode) for ``backend`` on ``device``; ``precision="int8"``
    runs the quantized model (onnxruntime on CPU only) of ``calibration`` (default: current)."""
    if backend == "auto":
        backend = "onnxruntime" if device.type == "cpu" or precision == "int8" else "torch"
    if backend not in BACKENDS:
        raise DetectorError(f"unknown backend '{backend}': use auto or one of {', '.join(BACKENDS)}")
    if precision not in PRECISIONS:
        raise DetectorError(f"unknown precision '{precision}': use one of {', '.join(PRECISIONS)}")
    if precision == "int8":
        if device.type != "cpu" or backend != "onnxruntime":
            raise DetectorError(f"int8 runs on the CPU in onnxruntime, not {backend} on {device.type}: "
                                "use --device cpu and --backend auto or onnxruntime")
        return OnnxRuntimeNetwork(int8_session(model, config, calibration))
    if backend == "onnxruntime":
        return OnnxRuntimeNetwork(fp32_onnx(model, config, device)[1])
    network = DecodedSSD(model, config).to(device, dtype, memory_format=torch.channels_last).eval()
    if backend == "torchscript":
        size = config.image_size
        example = torch.zeros(1, 3, size, size, device=device, dtype=dtype).contiguous(memory_format=torch.channels_last)
        network = frozen_trace(network, example)

    def run(x: Tensor) -> tuple[Tensor, Tensor]:
        with torch.inference_mode():
            return network(x.to(device, dtype).contiguous(memory_format=torch.channels_last))

    return run
