"""The bundled Billit sandbox: a Starlette app faithful to the documented Billit API (see billit-api.md section 14)."""
