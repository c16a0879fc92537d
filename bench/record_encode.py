"""Recording from published frames: ingest's CPU for one 640-px camera at 5 fps, recording off
then on (its published frames encoded with libx264), printed as JSON.

The camera loops the sample video as MJPEG (640x272, 25 fps: packets that cannot be copied)
in real time through ``cctv ingest`` alone (no worker: a realtime file never waits for
detection), ``--fps`` frames a second published. Off is ``record: {enabled: false}`` with
``events: {clips: false}`` (nothing recorded, not even for events); on is ``record: {enabled:
true}``: it is recorded from its published frames, as an image folder, an MJPEG camera or a
webcam is (an H.264 file played in real time would be copied). Each run measures the
ingest process's CPU over ``--duration`` s after ``--warmup`` s, ``--repeats`` times; the JSON
gives the runs, the cost (on minus off, in % of a core) and the segments' bytes per second.
Usage: ``.venv/bin/python bench/record_encode.py [--duration 20] [--warmup 5] [--repeats 2]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.keys import KEYS  # noqa: E402
from runtime.recordings import list_segments  # noqa: E402
from runtime.redis_conn import EmbeddedRedis  # noqa: E402


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def as_mjpeg(video: Path, out: Path) -> Path:
    """``video`` re-encoded as MJPEG (Matroska) at ``out``."""
    with av.open(str(video)) as source, av.open(str(out), "w") as output:
        template = source.streams.video[0]
        stream = output.add_stream("mjpeg", rate=template.average_rate)
        stream.width, stream.height, stream.pix_fmt = template.width, template.height, "yuvj420p"
        for frame in source.decode(template):
            output.mux(stream.encode(frame.reformat(format="yuvj420p")))
        output.mux(stream.encode(None))
    return out


def measure(client, url: str, video: Path, record: bool, work: Path, args) -> dict:
    """Ingest's cores for the camera, recording ``record``."""
    client.flushall()
    folder = work / f"recordings-{time.monotonic_ns()}"
    config = work / "record.yaml"
    config.write_text(json.dumps({"cameras": [
        {"name": "rec", "url": str(video), "fps": args.fps, "loop": True, "realtime": True,
         "max_width": 640, "record": {"enabled": record}, "events": {"clips": record}}]}))
    env = dict(os.environ, REDIS_URL=url, PYTHONPATH=str(ROOT), CCTV_RECORDINGS_DIR=str(folder))
    ingest = subprocess.Popen([sys.executable, "-m", "cctv", "ingest", "--cameras-file",
                               str(config)], env=env, cwd=ROOT, stdin=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        time.sleep(args.warmup)
        start = proc_cpu(ingest.pid)
        time.sleep(args.duration)
        cores = (proc_cpu(ingest.pid) - start) / args.duration
    finally:
        ingest.terminate()
        ingest.wait(30)
    segments = list_segments(client, KEYS, "rec")
    seconds = sum(s.end_ts - s.start_ts for s in segments)
    return {"record": record, "ingest_cores": round(cores, 4), "segments": len(segments),
            "recorded_bytes_per_s": round(sum(s.bytes for s in segments) / seconds)
            if seconds else None}


def main() -> None:
    from cctv.up import sample_video

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring")
    parser.add_argument("--repeats", type=int, default=2, help="off/on pairs")
    parser.add_argument("--fps", type=float, default=5.0, help="frames published per second")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cctv-bench-record-") as folder:
        work = Path(folder)
        server = EmbeddedRedis(work, unix_socket=work / "redis.sock")
        server.start()
        try:
            video = as_mjpeg(sample_video(), work / "sample-mjpeg.mkv")
            rows = [measure(server.client(), server.url, video, record, work, args)
                    for _ in range(args.repeats) for record in (False, True)]
        finally:
            server.stop()
    off = [r["ingest_cores"] for r in rows if not r["record"]]
    on = [r for r in rows if r["record"]]
    cost = sum(r["ingest_cores"] for r in on) / len(on) - sum(off) / len(off)
    print(json.dumps({
        "cpu_count": os.cpu_count(), "fps": args.fps, "width": 640,
        "duration_s": args.duration, "runs": rows,
        "encode_cost_percent_of_a_core": round(cost * 100, 2),
        "recorded_bytes_per_s": round(sum(r["recorded_bytes_per_s"] or 0 for r in on) / len(on)),
        "note": "the machine may be shared: compare runs of one invocation only"}, indent=2))


if __name__ == "__main__":
    main()
