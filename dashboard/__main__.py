"""``python -m dashboard``: the same as ``cctv dashboard`` with its defaults."""

from .cli import serve

raise SystemExit(serve())
