"""Streamlit dashboard: live annotated cameras, per-class counts, health, replays and cameras.

Reads and writes Redis through :mod:`common` only and never imports torch. ``cctv dashboard``
(or ``python -m dashboard``) serves :mod:`dashboard.app`.
"""
