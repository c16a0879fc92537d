"""Training throughput (images/s) of the SSD nets, printed as JSON.

One training step = forward, multibox loss, backward, clipped SGD step, on synthetic 300x300
batches with matched targets (so the loss does the real work). Measured on CPU, and on CUDA when
present. Usage: ``.venv/bin/python bench/training.py [--batch-size 8] [--steps 5] [--threads 2]``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from training.loss import MultiboxLoss
from training.matching import MatchPrior
from training.nets import build_net, freeze


def bench(net: str, device: str, batch_size: int, steps: int, freeze_part: str | None) -> float:
    """Images per second of full training steps (after one warm-up step)."""
    model, config = build_net(net, ["BACKGROUND", "a", "b"])
    if freeze_part:
        freeze(model, net, freeze_part)
    model.to(device).train()
    match = MatchPrior(config.priors, config.center_variance, config.size_variance)
    rng = np.random.default_rng(0)
    targets = [match(np.array([[0.1, 0.2, 0.5, 0.9], [0.5, 0.3, 0.8, 0.6]]), rng.integers(1, 3, 2))
               for _ in range(batch_size)]
    images = torch.randn(batch_size, 3, config.image_size, config.image_size, device=device)
    locations = torch.stack([t[0] for t in targets]).to(device)
    labels = torch.stack([t[1] for t in targets]).to(device)
    criterion = MultiboxLoss(score=config.score)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=1e-3, momentum=0.9)

    def step() -> None:
        pred_locations, confidence = model(images)
        regression, classification = criterion(confidence, pred_locations, labels, locations)
        optimizer.zero_grad(set_to_none=True)
        (regression + classification).backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        optimizer.step()

    step()
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    return batch_size * steps / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    cases = [("mb1-ssd", None), ("ssdlite", None), ("ssdlite", "net")]
    results = []
    for device in devices:
        for net, part in cases:
            batch = args.batch_size * (8 if device == "cuda" else 1)
            results.append({"device": device, "net": net, "frozen": part or "none", "batch_size": batch,
                            "images_per_s": round(bench(net, device, batch, args.steps, part), 2)})
    print(json.dumps({"torch": torch.__version__, "cpu_threads": torch.get_num_threads(),
                      "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
                      "results": results}, indent=2))


if __name__ == "__main__":
    main()
