"""Cameras per box: how many live-like 1080p25 H.264 cameras this machine sustains, printed as JSON.

Makes two 1080p25 H.264 files with ffmpeg: ``busy`` (the sample video scaled up) and ``still`` (a
still street, one frame of the sample, where a person cut from it walks 600 px in 2 s, every 30 s:
a door at the side of an empty street). For each
number of cameras N, every camera loops one file in real time with detection at ``--fps``, through
``cctv ingest``, one ``cctv worker`` (a single-threaded lane per core), ``cctv tracker`` and a
private embedded Redis; after ``--warmup`` s it measures ``--duration`` s:

- ingest CPU per decoded frame (the ingest process's CPU time / frames of the file it read,
  those it left undecoded included: FFmpeg's count), against FFmpeg's bare single-thread decode
  of the same file (``ffmpeg -threads 1 -i F -f null -``), measured in the same run; also
  FFmpeg's time per frame with ``-skip_frame noref`` (every frame no other refers to left
  undecoded, where ingest decodes those that fps keeps);
- the cores each process used (ingest, worker, tracker, Redis);
- worker frames/s, detection p99 latency from capture, frames dropped, backlog growth (frames
  published but not processed, end minus start of the window, more than one per camera);
- with motion gating, the share of frames the detector ran on, and frames with a person and the
  tracker's unique people per camera compared with the run without gating;
- recording and events: segments written in the run and recorded bytes/s per camera; events
  begun and ended in the window and their clips (cut from ingest's recording): named, missing,
  and those whose range the recording holds.

A realtime looped file is recorded by stream copy where its events' clips need it (kept only
there). ``--live`` makes every camera a live H.264 stream instead, as IP cameras are: the file
looped in real time by ``ffmpeg -re`` into MPEG-TS over HTTP, its packets copied (one server per
camera, their cores given as ``live_servers``), which ingest reads as a live camera (newest frame)
and records continuously by stream copy (``record: {enabled: true}``).

Sustained: p99 <= 1 s, no backlog growth, no drops. (A looped file is paced like a camera but, like
any file, waits for room in its stream rather than dropping: a load too high shows as backlog.)
All cameras start together by default, so the still scene's walker crosses every camera at once
(the worst case); ``--stagger`` starts them one by one over the walker's 30 s period, out of step
as real cameras are.
``--record`` measures recording by stream copy instead: one ``busy`` camera, a live H.264 stream
(as ``--live``), through ``cctv ingest`` alone, ``record`` off (``enabled: false``) then on (the
live default), event clips off both times (no events-only recording), ``--repeats`` times; the
ingest cores each time, their difference (goal: at most 1% of a core) and the recorded segments'
bytes per second against the source's own bitstream (goal: within 10%); and recording from
published frames, as an MJPEG camera, a webcam or a file read at detection pace is recorded: the
sample video as MJPEG looped in real time at 640 px, ``record`` off then on, its cost and bytes.
Usage: ``.venv/bin/python bench/cameras.py [--cameras 2,4,8,12,16,20] [--duration 60]
[--runs busy,still,still-gated] [--precision fp32|int8] [--stagger] [--no-clips] [--live]
[--record]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common.cameras import CamerasFile
from common.keys import KEYS  # noqa: E402
from common.messages import DetectionMessage  # noqa: E402
from common.records import CameraState  # noqa: E402
from media.video import probe  # noqa: E402
from runtime.camera_list import store_camera
from runtime.event_store import camera_events
from runtime.recordings import list_segments
from runtime.redis_conn import EmbeddedRedis

SIZE = "1920:1080"
WALKER_PERIOD_S = 30
"""The still scene's walker crosses every 30 s (``make_still``)."""
RUNS = {"busy": ("busy", False), "still": ("still", False), "still-gated": ("still", True)}


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *args], check=True)


def make_busy(sample: Path, out: Path, seconds: int = 20) -> Path:
    """The sample video looped, scaled to 1080p, 25 fps H.264."""
    if not out.exists():
        ffmpeg("-stream_loop", "-1", "-i", str(sample), "-t", str(seconds), "-an",
               "-vf", f"scale={SIZE},fps=25", "-c:v", "libx264", "-preset", "veryfast",
               "-pix_fmt", "yuv420p", str(out))
    return out


def person_patch(sample: Path, folder: Path) -> tuple[Path, Path]:
    """(a frame of the sample as the still street, a person cut from another frame), as PNGs."""
    import cv2

    from detector import load_detector
    from media.video import read_frames

    frames = list(read_frames(sample))
    detector = load_detector("ssdlite-person", num_threads=1)
    best = max(((d.score, i, d.box) for i in range(0, len(frames), 10)
                for d in detector.detect([frames[i]])[0]), default=None)
    if best is None:
        raise SystemExit("no person found in the sample video")
    _, index, (x1, y1, x2, y2) = best
    pad = 6
    patch = frames[index][max(0, int(y1) - pad):int(y2) + pad, max(0, int(x1) - pad):int(x2) + pad]
    scale = min(1080 / frames[0].shape[0], 480 / patch.shape[0])  # at most half the height
    patch = cv2.resize(patch, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    street, person = folder / "street.png", folder / "person.png"
    cv2.imwrite(str(street), frames[(index + 125) % len(frames)])
    cv2.imwrite(str(person), patch)
    return street, person


def make_still(sample: Path, out: Path, folder: Path) -> Path:
    """A still street (1080p25, 60 s) with a person walking (300 px/s) at 8-10 s and 38-40 s."""
    if not out.exists():
        street, person = person_patch(sample, folder)
        t = f"mod(t,{WALKER_PERIOD_S})"
        x = f"if(between({t},8,10),600+({t}-8)*300,-2000)"
        ffmpeg("-loop", "1", "-framerate", "25", "-i", str(street), "-loop", "1", "-framerate",
               "25", "-i", str(person), "-filter_complex",
               f"[0]scale={SIZE}[bg];[bg][1]overlay=x='{x}':y=H-h-60:shortest=0", "-t", "60",
               "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", str(out))
    return out


def ffmpeg_floor(video: Path, *options: str) -> float:
    """CPU ms per frame of FFmpeg's bare single-thread decode of ``video`` (with ``options``)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    ffmpeg("-threads", "1", *options, "-i", str(video), "-f", "null", "-")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu * 1000 / probe(video).frames


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def frames_read(port: int) -> int:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return int(sum(float(v) for v in re.findall(r"^cctv_frames_read_total\{[^}]*\} (\S+)$",
                                                 text, re.M)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Snapshot:
    """Counters of every camera at one moment."""

    def __init__(self, client, names: list[str], pids: dict[str, int], port: int):
        self.t = time.time()
        self.cpu = {name: proc_cpu(pid) for name, pid in pids.items()}
        self.read = frames_read(port)
        states = [CameraState.from_fields(client.hgetall(KEYS.state(n))) for n in names]
        self.published = sum(s.frames_in for s in states)
        self.dropped = sum(s.frames_dropped for s in states)
        self.processed = sum(int(client.hget(KEYS.stats(n), "frames_processed") or 0)
                             for n in names)
        self.unique = sum(int(client.hget(KEYS.track_stats(n), "unique:person") or 0)
                          for n in names)


def measure(client, url: str, video: Path, cameras: int, gated: bool, args) -> dict:
    """One run of ``cameras`` cameras looping ``video``."""
    client.flushall()
    names = [f"cam{i}" for i in range(cameras)]
    config = Path(args.work) / "cameras.yaml"
    motion = {"enabled": gated}
    servers = [live_stream(video) for _ in names] if args.live else []
    source = [{"url": url, "record": {"enabled": True}} for url, _ in servers] or \
        [{"url": str(video), "loop": True, "realtime": True}] * cameras
    config.write_text(json.dumps({"cameras": [
        {"name": n, "fps": args.fps, "motion": motion, "events": {"clips": args.clips}, **s}
        for n, s in zip(names, source)]}))
    served = lambda: sum(proc_cpu(p.pid) for _, p in servers)  # noqa: E731
    port = free_port()
    recordings = Path(args.work) / "recordings"
    shutil.rmtree(recordings, ignore_errors=True)  # the last run's segments are no longer indexed
    env = dict(os.environ, REDIS_URL=url, PYTHONPATH=str(ROOT),
               CCTV_RECORDINGS_DIR=str(recordings), CCTV_MEDIA_DIR=str(Path(args.work) / "events"))
    cmd = [sys.executable, "-m", "cctv"]
    cpus = os.cpu_count() or 1
    procs = [subprocess.Popen(cmd + ["worker", "--lanes", str(cpus), "--num-threads", "1",
                                     "--precision", args.precision],
                              env=env, cwd=ROOT, stdin=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL),
             subprocess.Popen(cmd + ["tracker"], env=env, cwd=ROOT, stdin=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)]
    try:
        while client.scard(KEYS.workers) < 1:
            time.sleep(0.2)
        ingest = subprocess.Popen(cmd + ["ingest"] + ([] if args.stagger else
                                                      ["--cameras-file", str(config)]),
                                  env=dict(env, CCTV_METRICS_PORT=str(port)), cwd=ROOT,
                                  stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(ingest)
        if args.stagger:  # cameras started one by one over the walker's period: out of step
            for camera in CamerasFile.model_validate_json(config.read_text()).cameras:
                store_camera(client, KEYS, camera)
                time.sleep(WALKER_PERIOD_S / cameras)
        time.sleep(args.warmup)
        pids = {"ingest": ingest.pid, "worker": procs[0].pid, "tracker": procs[1].pid,
                "redis": int(client.info("server")["process_id"])}
        start, served_start = Snapshot(client, names, pids, port), served()
        time.sleep(args.duration)
        end, served_end = Snapshot(client, names, pids, port), served()
        ms = lambda t: f"{int(t * 1000)}-0"  # noqa: E731
        messages = [m for m in (DetectionMessage.from_fields(f) for n in names
                                for _, f in client.xrange(KEYS.detections(n), ms(start.t)))
                    if start.t <= m.ts < end.t]  # captured in the window, detected by now
    finally:
        procs += [p for _, p in servers]
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            proc.wait(30)
    span = end.t - start.t
    backlog_growth = (end.published - end.processed) - (start.published - start.processed)
    latency = [m.ts_done - m.ts for m in messages]
    p99 = float(np.percentile(latency, 99)) if latency else None  # None: none detected in time
    row = {
        "cameras": cameras,
        "ingest_cpu_ms_per_decoded_frame": round((end.cpu["ingest"] - start.cpu["ingest"]) * 1000
                                                 / max(1, end.read - start.read), 3),
        "cores": {name: round((end.cpu[name] - start.cpu[name]) / span, 2) for name in end.cpu},
        "decoded_fps": round((end.read - start.read) / span, 1),
        "published_fps": round((end.published - start.published) / span, 1),
        "worker_fps": round((end.processed - start.processed) / span, 1),
        "detection_p99_ms": None if p99 is None else round(p99 * 1000, 1),
        "frames_dropped": end.dropped - start.dropped,
        "backlog_growth": backlog_growth,
        "frames_with_person_share": round(float(np.mean([bool(m.objects) for m in messages]))
                                          if messages else 0.0, 3),
        "unique_people_per_camera": round((end.unique - start.unique) / cameras, 2),
    }
    if gated:
        row["detector_share"] = round(float(np.mean([not m.carried for m in messages]))
                                      if messages else 1.0, 3)
    row["sustained"] = p99 is not None and p99 <= 1.0 and backlog_growth <= cameras \
        and row["frames_dropped"] == 0
    if servers:
        row["cores"]["live_servers"] = round((served_end - served_start) / span, 2)
    row.update(recorded(client, names, start.t, end.t))
    return row


def live_stream(video: Path) -> tuple[str, subprocess.Popen]:
    """``video`` as a live H.264 camera: looped in real time by ffmpeg, its packets copied into
    MPEG-TS over HTTP to one client; (its URL, the server)."""
    url = f"http://127.0.0.1:{free_port()}/live.ts"
    return url, subprocess.Popen(
        ["ffmpeg", "-nostdin", "-loglevel", "quiet", "-re", "-stream_loop", "-1", "-i",
         str(video), "-c", "copy", "-f", "mpegts", "-listen", "1", url], stdin=subprocess.DEVNULL)


def recorded(client, names: list[str], start: float, end: float) -> dict:
    """The run's recording (segments, bytes/s per camera) and the events that began and ended
    from ``start`` to ``end`` with their clips: named, missing, and within the camera's recording
    (segments less than 0.5 s apart)."""
    segments, ended, covered = [], [], 0
    for name in names:
        spans: list[list[float]] = []
        for s in list_segments(client, KEYS, name):
            segments.append(s)
            if spans and s.start_ts - spans[-1][1] < 0.5:
                spans[-1][1] = max(spans[-1][1], s.end_ts)
            else:
                spans.append([s.start_ts, s.end_ts])
        for event in camera_events(client, KEYS, name, start, end):
            if event.end_ts is not None and event.end_ts <= end:
                ended.append(event)
                clip = event.recorded_clip
                covered += clip is not None and any(a <= clip[0] and clip[1] <= b
                                                    for a, b in spans)
    seconds = sum(s.end_ts - s.start_ts for s in segments)
    return {"segments": len(segments),
            "recorded_bytes_per_s_per_camera": round(sum(s.bytes for s in segments) / seconds)
            if seconds else None,
            "events_ended": len(ended), "clips": sum(e.clip is not None for e in ended),
            "clips_missing": sum("clip" in e.media_errors for e in ended),
            "clips_recorded": covered}


def bitstream_rate(video: Path) -> float:
    """Bytes per second of the video's own packets (no container)."""
    import av

    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        size = sum(p.size for p in container.demux(stream) if p.size)
        return size / float(stream.duration * stream.time_base)


def as_mjpeg(video: Path, out: Path) -> Path:
    """``video`` re-encoded as MJPEG (Matroska) at ``out``: packets that cannot be copied."""
    with av.open(str(video)) as source, av.open(str(out), "w") as output:
        template = source.streams.video[0]
        stream = output.add_stream("mjpeg", rate=template.average_rate)
        stream.width, stream.height, stream.pix_fmt = template.width, template.height, "yuvj420p"
        for frame in source.decode(template):
            output.mux(stream.encode(frame.reformat(format="yuvj420p")))
        output.mux(stream.encode(None))
    return out


def measure_ingest(client, url: str, video: Path, how: str, record: bool, args) -> dict:
    """Ingest's cores for one camera, ``record`` on or off (event clips off: no events-only
    recording): ``how`` "copy" is ``video`` (H.264) as a live camera, recorded by stream copy;
    "encode" is ``video`` (MJPEG) looped in real time at 640 px, recorded from its published
    frames."""
    client.flushall()
    folder = Path(args.work) / "recordings"
    shutil.rmtree(folder, ignore_errors=True)  # the last run's segments are no longer indexed
    config = Path(args.work) / "record.yaml"
    camera = None
    if how == "copy":
        camera_url, camera = live_stream(video)
        source = {"url": camera_url, "record": {"enabled": None if record else False}}
    else:
        source = {"url": str(video), "realtime": True, "loop": True, "max_width": 640,
                  "record": {"enabled": record}}
    config.write_text(json.dumps({"cameras": [
        {"name": "rec", "fps": args.fps, "events": {"clips": False}, **source}]}))
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
        if camera is not None:
            camera.terminate()
            camera.wait(30)
    segments = list_segments(client, KEYS, "rec")
    seconds = sum(s.end_ts - s.start_ts for s in segments)
    return {"how": how, "record": record, "ingest_cores": round(cores, 4),
            "segments": len(segments),
            "recorded_bytes_per_s": round(sum(s.bytes for s in segments) / seconds)
            if seconds else None}


def main_record(args, busy: Path, mjpeg: Path) -> None:
    """``--record``: ingest's CPU with recording on minus off, by stream copy (and its bytes
    against the source) and by encoding the published frames."""
    server = EmbeddedRedis(Path(args.work), unix_socket=Path(args.work) / "redis.sock")
    server.start()
    try:
        rows = [measure_ingest(server.client(), server.url, busy if how == "copy" else mjpeg,
                               how, record, args)
                for _ in range(args.repeats) for how in ("copy", "encode")
                for record in (False, True)]
    finally:
        server.stop()

    def cost(how: str) -> float:
        """Mean ingest cores with recording on minus off."""
        on, off = ([r["ingest_cores"] for r in rows if r["how"] == how and r["record"] is flag]
                   for flag in (True, False))
        return float(np.mean(on) - np.mean(off))

    def recorded(how: str) -> float:
        return float(np.mean([r["recorded_bytes_per_s"] for r in rows
                              if r["how"] == how and r["record"]]))

    source = bitstream_rate(busy)
    print(json.dumps({
        "cpu_count": os.cpu_count(), "fps_per_camera": args.fps, "duration_s": args.duration,
        "video": {"copy": "1080p25 H.264 (busy), live", "encode": "640x272 MJPEG, realtime"},
        "runs": rows, "source_bytes_per_s": round(source),
        "goals": {"recording cost, % of a core (goal <= 1)": round(cost("copy") * 100, 2),
                  "recorded bytes / source bitstream (goal 0.9-1.1)": round(
                      recorded("copy") / source, 3)},
        "encode": {"cost, % of a core": round(cost("encode") * 100, 2),
                   "recorded bytes/s": round(recorded("encode"))}}, indent=2))


def main() -> None:
    from cctv.up import sample_video

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", default="2,4,8,12,16,20", help="numbers of cameras")
    parser.add_argument("--runs", default="busy,still,still-gated", help=", ".join(RUNS))
    parser.add_argument("--duration", type=float, default=60.0, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds before measuring")
    parser.add_argument("--fps", type=float, default=5.0, help="detection frames/s per camera")
    parser.add_argument("--stagger", action="store_true",
                        help="start the cameras one by one over 30 s, so that their loops (and "
                             "the still scene's walker) are out of step, as real cameras are")
    parser.add_argument("--no-clips", dest="clips", action="store_false",
                        help="no event clips (nor the recording a file's events need)")
    parser.add_argument("--live", action="store_true",
                        help="every camera a live H.264 stream over HTTP (the file served in real "
                             "time by ffmpeg), recorded by stream copy as IP cameras are")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "int8"),
                        help="the worker's detector precision")
    parser.add_argument("--work", default="/tmp/cctv-bench-cameras", help="folder for the files")
    parser.add_argument("--record", action="store_true",
                        help="measure recording instead: ingest CPU with record on minus off")
    parser.add_argument("--repeats", type=int, default=2, help="--record: off/on pairs")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if args.record:
        main_record(args, make_busy(sample_video(), work / "busy-1080p25.mp4"),
                    as_mjpeg(sample_video(), work / "sample-mjpeg.mkv"))
        return
    files = {"busy": make_busy(sample_video(), work / "busy-1080p25.mp4"),
             "still": make_still(sample_video(), work / "still-1080p25.mp4", work)}
    floors = {k: ffmpeg_floor(v) for k, v in files.items()}
    server = EmbeddedRedis(work, unix_socket=work / "redis.sock")
    server.start()
    client = server.client()
    result: dict = {"cpu_count": os.cpu_count(), "fps_per_camera": args.fps,
                    "precision": args.precision, "stagger": args.stagger, "clips": args.clips,
                    "live": args.live,
                    "duration_s": args.duration, "runs": {}}
    try:
        for run in args.runs.split(","):
            scene, gated = RUNS[run]
            rows = []
            for cameras in (int(n) for n in args.cameras.split(",")):
                row = measure(client, server.url, files[scene], cameras, gated, args)
                row["ingest_vs_ffmpeg"] = round(row["ingest_cpu_ms_per_decoded_frame"]
                                                / floors[scene], 3)
                rows.append(row)
                print(json.dumps({"run": run, **row}), file=sys.stderr, flush=True)
            result["runs"][run] = rows
    finally:
        server.stop()
    # the floor again after the runs: the ratio is against the mean of both measures
    result["ffmpeg_ms_per_frame"] = {k: round((floors[k] + ffmpeg_floor(v)) / 2, 3)
                                     for k, v in files.items()}
    result["ffmpeg_noref_ms_per_frame"] = {k: round(ffmpeg_floor(v, "-skip_frame", "noref"), 3)
                                           for k, v in files.items()}
    sustained = {run: max((r["cameras"] for r in rows if r["sustained"]), default=0)
                 for run, rows in result["runs"].items()}
    result["goals"] = {
        "max ingest_vs_ffmpeg (goal <= 1.15)": max(r["ingest_vs_ffmpeg"] for rows in
                                                   result["runs"].values() for r in rows),
        "cameras sustained, busy (goal >= 12)": sustained.get("busy"),
        "cameras sustained, still scene gated (goal >= 16)": sustained.get("still-gated"),
        "max detector_share gated (goal <= 0.2)": max(
            (r["detector_share"] for r in result["runs"].get("still-gated", [])), default=None),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
