"""Reading a JPEG's size from its header, so that a frame too large to decode is refused before
``cv2.imdecode`` allocates it."""

from __future__ import annotations

from common.fields import MessageError

_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # markers without a length field (TEM, RSTn)
_SOF = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start of frame (not DHT, JPG, DAC)


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the first start-of-frame segment; MessageError if there is none."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise MessageError(f"field 'jpeg' has no marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        if marker in _SOF:
            if pos + 9 > len(data):
                break
            height = int.from_bytes(data[pos + 5:pos + 7], "big")
            width = int.from_bytes(data[pos + 7:pos + 9], "big")
            return width, height
        if marker == 0xDA:  # start of scan: no frame header before it
            break
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
    raise MessageError("field 'jpeg' has no frame header (SOF)")
