"""The networks ``training.train`` builds: mb1-ssd and SSDLite, their configs, fine-tuning."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from torch import nn

from detector.checkpoints import read_state_dict
from detector.config import ModelConfig, mb1_ssd_config, ssdlite_config
from detector.models.mobilenet_v1_ssd import create_mobilenetv1_ssd
from detector.models.ssdlite import build_ssdlite_mobilenet_v2

log = logging.getLogger(__name__)

NETS = ("mb1-ssd", "ssdlite")
# Per net: the classification heads (class-specific, rebuilt when fine-tuning) and the base net
# (kept frozen by --freeze-base-net); everything else is the "net" of --freeze-net.
CLASS_HEADS = {"mb1-ssd": "classification_headers.", "ssdlite": "class_heads."}
HEADS = {"mb1-ssd": ("classification_headers.", "regression_headers."), "ssdlite": ("class_heads.", "box_heads.")}
BASE = {"mb1-ssd": "base_net.", "ssdlite": "layers."}


def build_net(net: str, labels: Sequence[str]) -> tuple[nn.Module, ModelConfig]:
    """A freshly initialized network for ``labels`` (BACKGROUND first) and its config."""
    if net == "mb1-ssd":
        return create_mobilenetv1_ssd(len(labels)), mb1_ssd_config(labels)
    if net == "ssdlite":
        return build_ssdlite_mobilenet_v2(len(labels)), ssdlite_config(labels)
    raise ValueError(f"unknown net {net!r}: use one of {', '.join(NETS)}")


def init_from_pretrained(model: nn.Module, net: str, source: str) -> None:
    """Fine-tuning start: copy every tensor of the pretrained SSD except the classification
    heads (their shape depends on the class count; they stay freshly initialized). Base net,
    extras and the class-agnostic box heads are kept. ``source`` is a ``.pth`` (a plain
    state_dict, or one under ``state_dict``/``model``) or, for ssdlite, ``ssdlite-person``
    (the imported TensorFlow person detector)."""
    if source == "ssdlite-person":
        if net != "ssdlite":
            raise ValueError("--pretrained-ssd ssdlite-person needs --net ssdlite")
        from detector.tf_import import load_ssdlite

        state = load_ssdlite(fuse_batchnorm=False)[0].state_dict()
    else:
        state = read_state_dict(Path(source), net)
    own = model.state_dict()
    kept = {k: v for k, v in state.items()
            if not k.startswith(CLASS_HEADS[net]) and k in own and own[k].shape == v.shape}
    missing = [k for k in own if k not in kept and not k.startswith(CLASS_HEADS[net])]
    if missing:
        raise ValueError(f"{source} is not a {net} checkpoint: it lacks {missing[0]} "
                         f"(and {len(missing) - 1} more)")
    model.load_state_dict(kept, strict=False)
    log.info("initialized from %s: %d tensors kept, classification heads new", source, len(kept))


def freeze(model: nn.Module, net: str, part: str) -> None:
    """``part`` = ``base_net``: freeze the backbone; ``net``: everything but the heads.
    Frozen BatchNorms are set to stay in eval mode (see :func:`train_mode`)."""
    prefixes = (BASE[net],) if part == "base_net" else None
    for name, param in model.named_parameters():
        head = name.startswith(HEADS[net])
        if (prefixes and name.startswith(prefixes)) or (prefixes is None and not head):
            param.requires_grad_(False)


def train_mode(model: nn.Module) -> None:
    """``model.train()``, except BatchNorms whose parameters are frozen stay in eval mode, so a
    frozen backbone keeps its running statistics."""
    model.train()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not any(
                p.requires_grad for p in module.parameters()):
            module.eval()
