"""The `billit-etl` command line: one module per command group, the demo apart (`cli.main` assembles them)."""
