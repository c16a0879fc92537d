"""Ways to run a :class:`~detector.network.DecodedSSD`: all map a float32 input batch
Tensor[N, 3, S, S] (on the CPU, as :mod:`detector.preprocess` makes it) to (scores Tensor[N, P, C],
boxes Tensor[N, P, 4]), on the device the network runs on (the CPU for onnxruntime).

- ``torch``: eager PyTorch (BatchNorm already folded by the loaders), channels-last.
- ``torchscript``: the same, traced and frozen (TorchScript fuses convolution and activation).
- ``onnxruntime``: the exported ONNX model (the detectNet file) in onnxruntime.
- ``auto`` (the default): onnxruntime on CPU, where it measures fastest (``bench/detector_speed.py``),
  eager PyTorch in fp16 on CUDA.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable, Literal

import torch
from torch import Tensor, nn

from .checkpoints import atomic_write, models_dir
from .config import ModelConfig
from .errors import DetectorError
from .network import DecodedSSD, frozen_trace

Backend = Literal["auto", "torch", "torchscript", "onnxruntime"]
BACKENDS: tuple[str, ...] = ("torch", "torchscript", "onnxruntime")
Network = Callable[[Tensor], tuple[Tensor, Tensor]]


class OnnxRuntimeNetwork:
    """The detectNet ONNX export of a model, run by onnxruntime (CUDA provider when present)."""

    def __init__(self, model: nn.Module, config: ModelConfig, device: torch.device):
        import onnxruntime

        from .export import INPUT_NAME, onnx_bytes

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        # Threads spin between the operators of a run (waking them per operator costs more), but
        # stop as soon as the run returns, so they do not slow the preprocessing (NumPy and
        # OpenCV, on the same cores) that comes next; measured with bench/detector_speed.py.
        options.add_session_config_entry("session.force_spinning_stop", "1")
        providers = ["CPUExecutionProvider"]
        if device.type == "cuda" and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        path = _onnx_cache_path(model, config)
        try:
            self.session = onnxruntime.InferenceSession(path.read_bytes(), options, providers=providers)
        except Exception:  # not cached yet (or unreadable): export, then cache for the next start
            data = onnx_bytes(model, config, dynamic_batch=True)
            self.session = onnxruntime.InferenceSession(data, options, providers=providers)
            try:
                atomic_write(path, lambda f: f.write(data))
            except OSError:
                pass  # the cache only saves start-up time
        self.input_name = INPUT_NAME

    def __call__(self, x: Tensor) -> tuple[Tensor, Tensor]:
        batch = x.float().contiguous().cpu().numpy()
        scores, boxes = self.session.run(None, {self.input_name: batch})
        return torch.from_numpy(scores), torch.from_numpy(boxes)


def _onnx_cache_path(model: nn.Module, config: ModelConfig) -> Path:
    """Where the ONNX export of these exact weights and this config is cached: exporting takes
    seconds, hashing the weights milliseconds."""
    digest = hashlib.sha256(f"{torch.__version__} {config.score} {config.center_variance} {config.size_variance}".encode())
    digest.update(config.priors.float().numpy().tobytes())
    for name, value in model.state_dict().items():
        digest.update(name.encode())
        digest.update(value.detach().float().cpu().numpy().tobytes())
    return models_dir() / "onnx-cache" / f"{digest.hexdigest()[:24]}.onnx"


def compile_network(
    model: nn.Module, config: ModelConfig, backend: str, device: torch.device, dtype: torch.dtype
) -> Network:
    """Wrap ``model`` (already in eval mode) for ``backend`` on ``device``."""
    if backend == "auto":
        backend = "torch" if device.type == "cuda" else "onnxruntime"
    if backend not in BACKENDS:
        raise DetectorError(f"unknown backend '{backend}': use auto or one of {', '.join(BACKENDS)}")
    if backend == "onnxruntime":
        return OnnxRuntimeNetwork(model, config, device)
    network = DecodedSSD(model, config).to(device, dtype, memory_format=torch.channels_last).eval()
    if backend == "torchscript":
        size = config.image_size
        example = torch.zeros(1, 3, size, size, device=device, dtype=dtype).contiguous(memory_format=torch.channels_last)
        network = frozen_trace(network, example)

    def run(x: Tensor) -> tuple[Tensor, Tensor]:
        with torch.inference_mode():
            return network(x.to(device, dtype).contiguous(memory_format=torch.channels_last))

    return run
