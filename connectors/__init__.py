"""Connectors to external systems (Billit, the warehouse). They know nothing of Prefect."""
