"""The bundled Billit sandbox: a Starlette app faithful to the documented Billit API (see
docs/reference/billit-api.md#sandbox)."""
