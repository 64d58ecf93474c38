"""Inbound: Billit -> warehouse (extract, land, sync state, load, backfill)."""

from tasks.inbound import _arrow_defaults  # noqa: F401  (before any module here imports pyarrow)
