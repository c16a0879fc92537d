"""Training MobileNet-SSD / SSDLite detectors: Open Images download, datasets, augmentation,
prior matching, multibox loss, train/eval scripts and auto-labelling of your own footage."""
