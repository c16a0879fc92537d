"""Detection workers: XREADGROUP batches across cameras -> Detector.detect -> detections, counts.

The one place where model output becomes a message (common.messages.DetectionMessage).
"""
