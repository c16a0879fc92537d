"""Calibrate the int8 network on the user's own footage, and check it on frames it never saw.

The inputs' frames are taken every ``step`` frames (``step`` >= 2, chosen to give about the
number asked for); the frames halfway between them are held out, and int8 is compared with fp32
on those (:mod:`detector.agreement`). A calibration that passes the bar becomes the one
``precision="int8"`` loads for this model; one under the bar is kept in the cache, not used.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from . import quantize
from .agreement import Agreement, compare
from .api import Detector, build_model
from .backends import fp32_onnx, weights_digest
from .errors import DetectorError
from .frames import Source, count_frames, iter_frames

AGREEMENT_BATCH = 8


@dataclass(frozen=True)
class Calibration:
    """What ``calibrate`` made: the calibration's name and file, the frames it saw, the agreement
    on held-out frames (None when fp32 finds nothing there) and whether it is now in use."""

    name: str
    path: Path
    frames: int
    agreement: Agreement | None
    in_use: bool


def batches_of(frames: Iterator[np.ndarray], size: int = AGREEMENT_BATCH) -> Iterator[list[np.ndarray]]:
    """Lists of at most ``size`` frames."""
    while chunk := list(itertools.islice(frames, size)):
        yield chunk


def calibrate(spec: str, sources: Sequence[Source], frames: int = 300,
              progress: Callable[[int], Callable[[int], object]] = lambda total: lambda n: None) -> Calibration:
    """Build the int8 network of model ``spec`` calibrated on about ``frames`` frames of
    ``sources``; ``progress(total)`` returns the callback told of each calibrated batch's size."""
    if not sources:
        raise DetectorError("no calibration input: pass images or videos of your cameras")
    model, config = build_model(spec)
    available = count_frames(sources)
    step = max(2, math.ceil(available / frames))
    chosen = itertools.islice(iter_frames(sources, step), frames)
    seen = 0

    def counted() -> Iterator[np.ndarray]:
        nonlocal seen
        for frame in chosen:
            seen += 1
            yield frame

    update = progress(min(frames, math.ceil(available / step)))
    data, name = quantize.quantize(fp32_onnx(model, config)[0],
                                   quantize.network_batches(counted(), config), update)
    key = weights_digest(model, config)
    path = quantize.save(key, name, data)

    fp32 = Detector(model, config, name=spec, device="cpu", backend="onnxruntime")
    int8 = Detector(model, config, name=spec, device="cpu", backend="onnxruntime",
                    precision="int8", calibration=name)
    try:
        agreement = compare(fp32, int8, batches_of(iter_frames(sources, step, step // 2)))
    except DetectorError:  # fp32 finds nothing in the held-out frames: nothing to compare
        agreement = None
    in_use = agreement is None or not agreement.failures()
    if in_use:
        quantize.use_calibration(key, name)
    return Calibration(name, path, seen, agreement, in_use)
