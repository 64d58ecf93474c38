"""A party's row and its identifier set are written together or not at all.

`parties` keeps the newest version of a party (the upsert keeps a stored row that is newer,
`connectors.warehouse.load._on_conflict`). Its identifiers follow the same rule: a batch, or a replayed landing,
holding an older version of a party leaves both its row and its identifiers alone, so `parties.peppol_id` and
`party_identifiers` always describe one version. The sync (`tasks.inbound.warehouse`) and the replay
(`tasks.inbound.replay_load`) both ask `parties_to_write` before their upsert.

What is asked must still hold at the upsert: on PostgreSQL (read committed) another transaction of the company,
say the other stream's batch, could commit a newer version in between, and the upsert would then keep that row
while the identifiers of the older one replaced its set. So the company's party writes take a transaction lock
first; on SQLite a write transaction already holds the whole database (`BEGIN IMMEDIATE`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import sqlalchemy as sa

from connectors.warehouse import in_chunks, is_among

#: The key of `party_identifiers`: a party's identifier, as Billit wrote it, from one source.
IDENTIFIER_KEY = ("company_id", "party_id", "source", "raw")
# Held until the transaction ends; one per schema and company (a hash collision only makes two companies wait).
_PARTIES_LOCK = sa.text(
    "SELECT pg_advisory_xact_lock(hashtext('parties ' || coalesce(current_schema(), '')), hashtext(:company))"
)


def parties_to_write(
    connection: sa.Connection, parties: sa.Table, company_id: int, versions: Mapping[int, datetime | None]
) -> list[int]:
    """Of the incoming parties (party id: LastModified), those the upsert writes, sorted: not stored yet, stored
    without a version, or stored at a version no newer than the incoming one. Ask before the upsert, in its
    transaction: on PostgreSQL this locks the company's parties until the transaction ends."""
    if connection.dialect.name == "postgresql":
        connection.execute(_PARTIES_LOCK, {"company": str(company_id)})
    ids = sorted(versions)
    stored: dict[int, datetime | None] = {}
    for chunk in in_chunks(ids):
        query = sa.select(parties.c.party_id, parties.c.last_modified).where(
            parties.c.company_id == company_id, is_among(connection, parties.c.party_id, chunk)
        )
        stored.update(connection.execute(query).tuples().all())
    return [
        party_id
        for party_id in ids
        if party_id not in stored
        or stored[party_id] is None
        or (versions[party_id] is not None and stored[party_id] <= versions[party_id])  # type: ignore[operator]
    ]


def forget_identifiers(
    connection: sa.Connection, identifiers: sa.Table, company_id: int, party_ids: Sequence[int]
) -> None:
    """Delete the company's identifier rows of these parties, whose sets are about to be replaced (a party's
    identifiers in another company's books are that company's)."""
    for chunk in in_chunks(party_ids):
        connection.execute(
            sa.delete(identifiers).where(
                identifiers.c.company_id == company_id, is_among(connection, identifiers.c.party_id, chunk)
            )
        )
