"""Prefect tasks: small verbs over the connectors, and the pure transformations they use."""
