"""Tracking stage: detections in capture order -> ByteTrack ids -> unique, line and zone counts.

Reads ``cctv:detections:{camera}``, writes ``cctv:tracks:{camera}`` and the track counters; one
process holds a camera at a time (see docs/tracking.md). Imports ``common/`` only, never torch.
"""
