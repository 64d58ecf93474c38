"""Inbound: Billit -> warehouse (extract, land, sync state, load, backfill)."""
