"""Outbound: warehouse -> Billit (validate and build orders, take invoices in, push, report)."""
