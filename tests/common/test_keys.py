from common.keys import GROUP, KEYS, Keys


def test_default_layout():
    assert KEYS.frames("lobby") == "cctv:frames:lobby"
    assert KEYS.detections("lobby") == "cctv:detections:lobby"
    assert KEYS.cameras == "cctv:cameras"
    assert KEYS.minute("lobby", 123) == "cctv:minute:lobby:123"
    assert GROUP == "workers"


def test_hash_tags_put_camera_keys_in_one_cluster_slot():
    keys = Keys(prefix="x", hash_tags=True)
    per_camera = [keys.frames("a"), keys.detections("a"), keys.stats("a"), keys.state("a"),
                  keys.minute("a", 1), keys.done("a", "1-0")]
    assert all("{a}" in k and k.startswith("x:") for k in per_camera)
