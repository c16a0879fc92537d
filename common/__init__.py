"""The contract between processes: key names, message schemas, settings, Redis connection.

Imports nothing else of this project and no torch, so any program (ingest, workers, the
dashboard, a third-party consumer) can depend on it cheaply.
"""
