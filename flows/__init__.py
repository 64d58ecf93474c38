"""Prefect flows and the billit-etl command line."""
