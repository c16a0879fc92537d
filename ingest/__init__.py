"""Ingest: camera and file sources -> capped Redis frame streams (imports only common/)."""
