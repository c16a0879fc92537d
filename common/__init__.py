"""The contract between processes: key names, stream ids, message and record codecs (frames,
detections, tracks, events, event changes, counts, records), the cameras-file schema, MQTT topic
names and the URL rules every process masks by.

Imports no client library, server, thread or subprocess of its own, nothing else of this project
and no torch (tests/test_import_graph.py), so any program (ingest, workers, the dashboard, a
third-party consumer) can depend on it cheaply.
"""
