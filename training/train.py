"""Train an SSD detector (pytorch-ssd's ``train_ssd.py``, NaN-proof).

    python -m training.train --data=data/cctv --model-dir=models/cctv --batch-size=16 --epochs=5

Reads top to bottom: arguments, set-up, data, model, optimizer and schedule, loop. Writes, in
``--model-dir``: ``labels.txt``, ``<net>-Epoch-N-Loss-X.pth`` (a plain state_dict, loadable by
``load_detector("mb1-ssd:PATH")`` / ``"ssdlite:PATH"``), ``train-state.pt`` (for ``--resume``),
``args.json``, ``steps.csv``, ``metrics.csv`` and ``loss.png``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from .datasets import OpenImagesDataset, VOCDataset
from .engine import evaluate, train_one_epoch
from .logs import plot_losses, write_csv
from .loss import MultiboxLoss
from .matching import MatchPrior
from .nets import NETS, build_net, freeze, init_from_pretrained
from .transforms import TestTransform, TrainAugmentation

log = logging.getLogger("training.train")


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Train a MobileNet-SSD / SSDLite detector", add_help=add_help)
    p.add_argument("--data", "--datasets", dest="data", default="data", help="dataset folder")
    p.add_argument("--dataset-type", default="open_images", choices=["open_images", "voc"])
    p.add_argument("--balance-data", action="store_true", help="as many training images per class as the rarest")
    p.add_argument("--model-dir", default="models", help="folder for checkpoints, labels.txt and logs")
    p.add_argument("--net", default="mb1-ssd", choices=NETS)
    p.add_argument("--pretrained-ssd", default="", help="fine-tune from this SSD (.pth, or ssdlite-person)")
    p.add_argument("--resume", default="", help="train-state.pt to continue, or a .pth state_dict to start from")
    p.add_argument("--freeze-base-net", action="store_true", help="train all but the backbone")
    p.add_argument("--freeze-net", action="store_true", help="train only the prediction heads")
    p.add_argument("--batch-size", default=4, type=int)
    p.add_argument("--epochs", "--num-epochs", dest="epochs", default=30, type=int)
    p.add_argument("--lr", "--learning-rate", dest="lr", default=0.01, type=float)
    p.add_argument("--momentum", default=0.9, type=float)
    p.add_argument("--weight-decay", default=5e-4, type=float)
    p.add_argument("--scheduler", default="cosine", choices=["cosine", "multistep"])
    p.add_argument("--milestones", default="80,100", help="epochs where multistep divides the lr by 10")
    p.add_argument("--warmup-steps", default=500, type=int, help="linear learning-rate warm-up (steps)")
    p.add_argument("--clip-grad-norm", default=10.0, type=float, help="max gradient norm")
    p.add_argument("--workers", "--num-workers", dest="workers", default=2, type=int)
    p.add_argument("--validation-epochs", default=1, type=int, help="validate and save every N epochs")
    p.add_argument("--max-steps", default=None, type=int, help="at most this many batches per epoch (small runs)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", default=0, type=int, help="torch CPU threads (0: torch's default)")
    p.add_argument("--seed", default=0, type=int)
    return p


def _datasets(args) -> tuple[OpenImagesDataset | VOCDataset, OpenImagesDataset | VOCDataset]:
    """Training and validation sets (the validation set takes the training set's classes)."""
    if args.dataset_type == "voc":
        train = VOCDataset(args.data, balance_data=args.balance_data)
        return train, VOCDataset(args.data, is_test=True, class_names=train.class_names)
    train = OpenImagesDataset(args.data, dataset_type="train", balance_data=args.balance_data)
    return train, OpenImagesDataset(args.data, dataset_type="test", class_names=train.class_names)


def lr_lambda(args, steps_per_epoch: int):
    """Learning-rate factor at a step: linear warm-up times cosine decay or multistep."""
    total = max(args.epochs * steps_per_epoch, 1)
    milestones = [int(m) * steps_per_epoch for m in args.milestones.split(",") if m.strip()]

    def factor(step: int) -> float:
        warm = min(1.0, (step + 1) / args.warmup_steps) if args.warmup_steps > 0 else 1.0
        if args.scheduler == "cosine":
            return warm * 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
        return warm * 0.1 ** sum(step >= m for m in milestones)

    return factor


def _save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def main(args: argparse.Namespace) -> dict:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model_dir = Path(args.model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "args.json").write_text(json.dumps(vars(args), indent=2))

    # Data: the class list comes from the training set; the net's config says how to feed it.
    train_set, val_set = _datasets(args)
    labels = train_set.class_names
    model, config = build_net(args.net, labels)
    train_set.transform = TrainAugmentation(config.image_size, config.mean, config.std)
    val_set.transform = TestTransform(config.image_size, config.mean, config.std)
    train_set.target_transform = val_set.target_transform = MatchPrior(
        config.priors, config.center_variance, config.size_variance, iou_threshold=0.5)
    (model_dir / "labels.txt").write_text("".join(f"{name}\n" for name in labels))
    log.info("classes: %s; %d training, %d validation images", labels[1:], len(train_set), len(val_set))
    train_loader = DataLoader(train_set, args.batch_size, shuffle=True, num_workers=args.workers,
                              drop_last=len(train_set) > args.batch_size, persistent_workers=args.workers > 0)
    val_loader = DataLoader(val_set, args.batch_size, shuffle=False, num_workers=args.workers)

    # Model: fresh, fine-tuned from a pretrained SSD, or resumed.
    if args.pretrained_ssd:
        init_from_pretrained(model, args.net, args.pretrained_ssd)
    if args.freeze_base_net or args.freeze_net:
        freeze(model, args.net, "base_net" if args.freeze_base_net else "net")
    model.to(device)
    criterion = MultiboxLoss(neg_pos_ratio=3, score=config.score)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    steps_per_epoch = min(len(train_loader), args.max_steps or len(train_loader))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(args, steps_per_epoch))
    start_epoch, steps, epochs = 0, [], []
    if args.resume:
        state = torch.load(args.resume, map_location="cpu", weights_only=True)
        if "train_state" in state:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            start_epoch, steps, epochs = state["epoch"] + 1, state["steps"], state["epochs"]
            for group, base_lr in zip(optimizer.param_groups, scheduler.base_lrs):  # --epochs may have changed
                group["lr"] = base_lr * scheduler.lr_lambdas[0](scheduler.last_epoch)
        else:
            model.load_state_dict(state)
        log.info("resumed from %s at epoch %d", args.resume, start_epoch)

    # Loop: train, validate, save.
    result = {}
    for epoch in range(start_epoch, args.epochs):
        steps += train_one_epoch(model, criterion, optimizer, scheduler, train_loader, device, epoch,
                                 args.clip_grad_norm, args.max_steps)
        epoch_steps = [s for s in steps if s["epoch"] == epoch and not s["skipped"]]
        row = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"],
               "train_loss": float(np.mean([s["loss"] for s in epoch_steps])) if epoch_steps else math.nan,
               "skipped_steps": sum(s["skipped"] for s in steps if s["epoch"] == epoch),
               "val_loss": math.nan, "val_regression": math.nan, "val_classification": math.nan, "map50": math.nan}
        if epoch % args.validation_epochs == 0 or epoch == args.epochs - 1:
            metrics = evaluate(model, criterion, val_loader, val_set, config, device)
            row.update(val_loss=metrics["loss"], val_regression=metrics["regression"],
                       val_classification=metrics["classification"], map50=metrics["map50"])
            path = model_dir / f"{args.net}-Epoch-{epoch}-Loss-{metrics['loss']}.pth"
            _save(model.state_dict(), path)
            result = {"checkpoint": str(path), **row}
            log.info("epoch %d: train loss %.4f, validation loss %.4f (regression %.4f, classification %.4f), "
                     "mAP@0.5 %.4f; saved %s", epoch, row["train_loss"], metrics["loss"], metrics["regression"],
                     metrics["classification"], metrics["map50"], path)
        epochs.append(row)
        write_csv(model_dir / "steps.csv", steps)
        write_csv(model_dir / "metrics.csv", epochs)
        plot_losses(steps, epochs, model_dir / "loss.png")
        _save({"train_state": 1, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
               "scheduler": scheduler.state_dict(), "epoch": epoch, "steps": steps, "epochs": epochs},
              model_dir / "train-state.pt")
    return result


if __name__ == "__main__":
    main(get_args_parser().parse_args())
