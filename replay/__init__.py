"""Replays: a recorded file played through ingest as a camera, as an RQ job, and its recording.

- :mod:`replay.queue`: the RQ queue (JSON jobs, never pickle): enqueue, status, frames processed.
- :mod:`replay.job`: the job ``cctv rq-worker`` runs: checks the file, publishes its frames.
- :mod:`replay.follower`: reads the replay's detections and tracks while it runs, waits for all.
- :mod:`replay.tally`: the replay's counts: the tracker's totals over it, and per second.
- :mod:`replay.recorder`: writes the annotated video, the per-second CSV and the JSON report.
- :mod:`replay.report`: the report's format and the finished recordings the dashboard lists.

The dashboard imports ``queue`` and ``report``; nothing here imports torch.
"""
