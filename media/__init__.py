"""Pictures and video, shared by every service that shows what was found: drawing boxes, track ids,
lines and zones on frames, and writing video browsers play. Imports nothing of ours, nor torch."""
