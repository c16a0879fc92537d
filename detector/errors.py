class DetectorError(Exception):
    """A detector input (model spec, checkpoint, labels, media) is unusable; the message says why."""
