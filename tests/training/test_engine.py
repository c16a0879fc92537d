"""train_one_epoch skips non-finite steps without touching the weights; the lr schedule warms up."""

from __future__ import annotations

import argparse
import math

import pytest
import torch
from torch import nn

from training.engine import train_one_epoch
from training.loss import MultiboxLoss
from training.train import lr_lambda


class Tiny(nn.Module):
    """(locations, logits) for 8 priors from a linear layer; ``poison`` calls output NaN or inf."""

    def __init__(self, poison: dict[int, str]):
        super().__init__()
        self.linear = nn.Linear(3, 8 * 6)
        self.calls, self.poison = 0, poison

    def forward(self, x):
        out = self.linear(x.mean(dim=(2, 3))).view(len(x), 8, 6)
        kind = self.poison.get(self.calls)
        self.calls += 1
        if kind == "nan":
            out = out * math.nan
        elif kind == "inf":
            out = out * math.inf
        return out[..., :4], out[..., 4:]


def _batches(n):
    torch.manual_seed(0)
    labels = torch.zeros(2, 8, dtype=torch.long)
    labels[:, 0] = 1
    return [(torch.randn(2, 3, 4, 4), torch.randn(2, 8, 4), labels) for _ in range(n)]


@pytest.mark.parametrize("kind", ["nan", "inf"])
def test_non_finite_step_is_skipped_and_weights_stay(kind, caplog):
    model = Tiny({1: kind})
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    weights = []

    class Recorder(list):
        def __iter__(self):
            for batch in super().__iter__():
                weights.append(model.linear.weight.detach().clone())
                yield batch

    records = train_one_epoch(model, MultiboxLoss(), optimizer, scheduler, Recorder(_batches(3)),
                              torch.device("cpu"), epoch=0, max_norm=10.0)
    weights.append(model.linear.weight.detach().clone())
    assert [r["skipped"] for r in records] == [0, 1, 0]
    assert math.isnan(records[1]["loss"]) and math.isfinite(records[0]["loss"]) and math.isfinite(records[2]["loss"])
    assert torch.equal(weights[1], weights[2])      # the poisoned step changed nothing
    assert not torch.equal(weights[0], weights[1])  # the others did
    assert torch.isfinite(model.linear.weight).all()
    assert "step skipped, weights unchanged" in caplog.text


def test_warmup_then_cosine_and_multistep():
    args = argparse.Namespace(epochs=2, milestones="1", warmup_steps=4, scheduler="cosine")
    factor = lr_lambda(args, steps_per_epoch=10)
    cosine = [0.5 * (1 + math.cos(math.pi * s / 20)) for s in range(4)]
    assert [factor(s) for s in range(4)] == pytest.approx([w * c for w, c in zip([0.25, 0.5, 0.75, 1], cosine)])
    assert factor(20) == pytest.approx(0.0) and factor(10) == pytest.approx(0.5)
    args.scheduler = "multistep"
    factor = lr_lambda(args, steps_per_epoch=10)
    assert factor(0) == 0.25 and factor(9) == 1.0 and factor(10) == pytest.approx(0.1)
