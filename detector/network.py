"""A network with its box decoding and scoring: what the detector runs and what ONNX exports."""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn

from .boxes import center_to_corner, decode
from .config import ModelConfig


def decode_predictions(locations: Tensor, logits: Tensor, priors: Tensor, config: ModelConfig) -> tuple[Tensor, Tensor]:
    """A network's raw output -> (scores[N, P, C], boxes[N, P, 4]): probabilities (softmax or
    sigmoid, as ``config.score`` says, in float32) and the decoded priors in corner form
    ``(x1, y1, x2, y2)``, normalized."""
    locations, logits = locations.float(), logits.float()
    scores = logits.sigmoid() if config.score == "sigmoid" else logits.softmax(dim=-1)
    boxes = center_to_corner(decode(locations, priors, config.center_variance, config.size_variance))
    return scores, boxes


class DecodedSSD(nn.Module):
    """A network plus its decoding: ``x[N, 3, S, S] -> (scores[N, P, C], boxes[N, P, 4])`` as
    :func:`decode_predictions` gives them. This is also the output layout of jetson-inference's
    detectNet ONNX models.
    """

    def __init__(self, model: nn.Module, config: ModelConfig):
        super().__init__()
        self.model = model
        self.config = config
        self.register_buffer("priors", config.priors.detach().float().clone(), persistent=False)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        locations, logits = self.model(x)
        return decode_predictions(locations, logits, self.priors, self.config)


def frozen_trace(module: nn.Module, example: Tensor) -> torch.jit.ScriptModule:
    """Trace ``module`` on ``example`` and freeze it: weights and weight-side computation (e.g.
    SSDLite's padded kernels) become constants, and TorchScript fuses what it can."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer notices about shapes, not errors
        return torch.jit.freeze(torch.jit.trace(module.eval(), (example,)))
