"""The CUDA path, measured on a machine with an NVIDIA GPU, printed as JSON.

- Decoding: a 1080p H.264 file through ingest's own source (``open_source``), keeping 1 frame in
  ``--keep`` scaled to 640 wide as ingest does, in software (one thread) and on NVDEC
  (``hwaccel: cuda``): frames/s and the process's CPU time per decoded frame, and FFmpeg's bare
  single-thread decode of the same file when the ``ffmpeg`` command is there.
- Detection: ``ssdlite-person`` on CUDA (fp16) at batch 1, 8, 32 and 64, whole detector
  (preprocessing, network, decoding and NMS) in images/s, beside the CPU (fp32) figure on
  ``--cpu-threads`` threads; and how far CUDA fp16's detections are from CPU fp32's on the same
  frames (detector/agreement.py's figures: F1, mean IoU, mean score difference); where a batch's
  time goes on CUDA (preprocessing, network, the rest).

    python bench/gpu.py --video busy-1080p.mp4 [--seconds 3] [--keep 5] [--cpu-threads 2]

Runs without a GPU too: the CUDA figures then say why they are missing.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detector import load_detector  # noqa: E402
from detector.agreement import compare  # noqa: E402
from ingest.hwaccel import choose  # noqa: E402
from ingest.sources import open_source  # noqa: E402


def decode(video: Path, hwaccel: str, keep: int) -> dict:
    """Decode the whole file as ingest does; frames/s and CPU ms per decoded frame."""
    if hwaccel != "none" and choose(hwaccel) is None:
        return {"error": f"hwaccel {hwaccel} unusable here"}
    source = open_source(str(video), hwaccel=hwaccel, threads=1)
    frames, wall, cpu = 0, time.perf_counter(), time.process_time()
    try:
        for i, frame in enumerate(source.frames()):
            if i % keep == 0:
                frame.scaled(640)
            frames += 1
    finally:
        source.close()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"frames": frames, "fps": round(frames / wall, 1),
            "cpu_ms_per_frame": round(cpu * 1000 / frames, 3)}


def ffmpeg_floor(video: Path) -> dict:
    """FFmpeg's bare single-thread decode (``-f null``): CPU ms per frame."""
    if shutil.which("ffmpeg") is None:
        return {"error": "no ffmpeg command here"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-threads", "1", "-i", str(video),
                    "-f", "null", "-"], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    frames = sum(1 for _ in open_source(str(video)).frames())
    return {"frames": frames, "cpu_ms_per_frame": round(cpu * 1000 / frames, 3)}


def frames_of(video: Path, count: int) -> list[np.ndarray]:
    """``count`` frames 640 wide, spread over the file."""
    source = open_source(str(video))
    images = [frame.scaled(640) for frame in source.frames()]
    source.close()
    step = max(1, len(images) // count)
    return images[::step][:count]


def images_per_s(detector, images: list[np.ndarray], batch: int, seconds: float) -> float:
    """Whole-detector images/s at ``batch``, after two warm-up batches."""
    batches = [images[i:i + batch] for i in range(0, len(images) - batch + 1, batch)] or \
        [(images * batch)[:batch]]
    for chunk in batches[:2]:
        detector.detect(chunk)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for chunk in batches:
            detector.detect(chunk)
            done += len(chunk)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return round(done / (time.perf_counter() - started), 1)


def breakdown_ms(detector, images: list[np.ndarray], batch: int, rounds: int = 20) -> dict:
    """Mean ms per batch of ``batch`` images: preprocessing (CPU), the network (to its
    outputs on the device) and the rest of ``detect`` (to the CPU, NMS, detections)."""
    chunk = (images * batch)[:batch]
    detector.detect(chunk)
    pre = net = whole = 0.0
    for _ in range(rounds):
        t0 = time.perf_counter()
        tensor = detector.preprocess(chunk)
        t1 = time.perf_counter()
        outputs = detector.forward(tensor)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        detector.detect(chunk)
        t3 = time.perf_counter()
        pre, net, whole = pre + t1 - t0, net + t2 - t1, whole + t3 - t2
    del outputs
    return {"preprocess": round(pre * 1000 / rounds, 2), "network": round(net * 1000 / rounds, 2),
            "rest": round((whole - pre - net) * 1000 / rounds, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, required=True, help="a 1080p H.264 file")
    parser.add_argument("--seconds", type=float, default=3.0, help="time per detection figure")
    parser.add_argument("--keep", type=int, default=5, help="frames decoded per frame kept")
    parser.add_argument("--cpu-threads", type=int, default=2, help="threads of the CPU detector")
    args = parser.parse_args()

    out: dict = {"gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
                 "torch": torch.__version__,
                 "decode": {"ffmpeg_floor": ffmpeg_floor(args.video),
                            "software_1_thread": decode(args.video, "none", args.keep),
                            "nvdec": decode(args.video, "cuda", args.keep)}}
    images = frames_of(args.video, 128)
    torch.set_num_threads(args.cpu_threads)
    cpu = load_detector("ssdlite-person", device="cpu", num_threads=args.cpu_threads)
    out["detect_cpu_fp32"] = {f"batch_{b}": images_per_s(cpu, images, b, args.seconds)
                              for b in (1, 8)}
    if torch.cuda.is_available():
        cuda = load_detector("ssdlite-person", device="cuda")
        out["detect_cuda_fp16"] = {f"batch_{b}": images_per_s(cuda, images, b, args.seconds)
                                   for b in (1, 8, 32, 64)}
        out["cuda_fp16_ms_per_batch_64"] = breakdown_ms(cuda, images, 64)
        batches = [images[i:i + 8] for i in range(0, len(images), 8)]
        out["cuda_fp16_vs_cpu_fp32"] = compare(cpu, cuda, batches).to_dict()
    else:
        out["detect_cuda_fp16"] = {"error": "no CUDA device here"}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
