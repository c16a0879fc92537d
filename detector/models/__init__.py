"""SSD networks: MobileNet-V1 SSD (pytorch-ssd layout) and SSDLite-MobileNet-V2 (TensorFlow layout)."""
