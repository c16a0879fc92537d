"""SSD object detectors in PyTorch: MobileNet-V1 SSD (pytorch-ssd) and SSDLite-MobileNet-V2."""

from .api import Detection, Detector, ModelConfig, load_detector
from .errors import DetectorError

__all__ = ["Detection", "Detector", "DetectorError", "ModelConfig", "load_detector"]
