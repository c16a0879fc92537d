"""What services share at run time, built on the contract in :mod:`common`: the Redis connection
and its URLs (single, cluster, sentinel), the one outage policy (``REDIS_DOWN``, ``Outage``),
logging, metrics, settings read from the environment, atomic writes and paths confined to their
folder, and the Redis-side stores every service reads: the camera list, events, status, the
MQTT bridge's state, recordings and the tracker's per-frame objects.
"""
