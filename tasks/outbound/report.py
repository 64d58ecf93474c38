"""The push's outcome for a person: what `tasks.outbound.push.run_push` did, plus the rows that need a look.

`push_invoices` is the plain function behind the reverse flow and `billit-etl push`: it pushes and adds to the
summary the rows rejected or failed in this run and those the take-in found changed after create, with one line
(`message`) saying what needs a person. `problems_markdown` is the Prefect artifact listing those rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from connectors.warehouse import reflect_tables
from tasks.outbound.claims import (
    CHANGED_AFTER_CREATE,
    COMPANY_CHANGED,
    COMPANY_CHANGED_AFTER_CREATE,
    ORDER_DIFFERS,
)
from tasks.outbound.push import PushOptions, run_push
from tasks.outbound.run import PROBLEMS_SHOWN
from tasks.outbound.send import NOT_ON_PEPPOL
from tasks.runtime import warehouse_engine


def push_invoices(
    options: PushOptions,
    *,
    engine: sa.Engine | None = None,
    taken: dict[str, Any] | None = None,
    **settings_overrides: Any,
) -> dict[str, Any]:
    """Push (`tasks.outbound.push.run_push`) and add what needs a person to the summary.

    `taken` is what `tasks.outbound.source.take_in_source` did before the push, if it ran. The summary gains
    `source`, `problems` (at most PROBLEMS_SHOWN rows: external_id, outcome, code, reason), `problems_more`,
    `message` (one line, None when nothing needs a person) and `ok` (no row rejected, failed or newly changed
    after create).
    """
    engine = engine or warehouse_engine()
    started = _utc_now()
    summary = run_push(options, engine=engine, **settings_overrides)
    return push_outcome(engine, summary, taken, since=started)


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def push_outcome(
    engine: sa.Engine, summary: dict[str, Any], taken: dict[str, Any] | None, *, since: datetime
) -> dict[str, Any]:
    """`summary` with the rows that need a person: those rejected or failed since `since` (the push writes
    `updated_at` with each outcome), or a dry run's that it would reject (it writes nothing), and those the
    take-in newly found changed after create."""
    summary = dict(summary)
    would_reject = summary.pop("rejected_rows", [])
    changed = list(taken["changed_rows"]) if taken else []
    problems = [
        {
            "external_id": row["external_id"],
            "outcome": "changed after create",
            "code": "ChangedAfterCreate",
            "reason": row["reason"],
        }
        for row in changed[:PROBLEMS_SHOWN]
    ]
    moved = list(taken.get("company_changed_rows", [])) if taken else []
    problems += [
        {"external_id": row["external_id"], "outcome": "rejected", "code": COMPANY_CHANGED, "reason": row["reason"]}
        for row in moved[: max(PROBLEMS_SHOWN - len(problems), 0)]
    ]
    more = (taken["changed_after_create"] + taken.get("company_changed", 0) if taken else 0) - len(problems)
    if summary["dry_run"]:  # nothing written: the rows it would reject are the summary's own
        shown = would_reject[: max(PROBLEMS_SHOWN - len(problems), 0)]
        problems += [{"outcome": "would be rejected", **row} for row in shown]
        more += summary["rejected"] - len(shown)
    else:
        table = reflect_tables(engine)["outbound_invoices"]
        not_sent = sa.and_(table.c.status == "created", table.c.last_error_code != NOT_ON_PEPPOL)  # a send refused
        outcome = sa.and_(
            sa.or_(table.c.status.in_(("rejected", "failed")), table.c.last_error_code == ORDER_DIFFERS, not_sent),
            table.c.updated_at >= since,
        )
        with engine.connect() as connection:
            total = connection.execute(sa.select(sa.func.count()).where(outcome)).scalar_one()
            rows = connection.execute(
                sa.select(table.c.external_id, table.c.status, table.c.last_error_code, table.c.last_error)
                .where(outcome)
                .order_by(table.c.status.desc(), table.c.external_id)
                .limit(max(PROBLEMS_SHOWN - len(problems), 0))
            ).all()
        problems += [
            {
                "external_id": row.external_id,
                "outcome": row.status,
                "code": row.last_error_code or "",
                "reason": row.last_error or "",
            }
            for row in rows
        ]
        more += int(total) - len(rows)
    changed_now = taken["changed_after_create"] if taken else 0
    moved_now = taken.get("company_changed", 0) if taken else 0
    ok = bool(summary["ok"]) and not changed_now and not moved_now
    return summary | {
        "source": taken,
        "problems": problems,
        "problems_more": more,
        "ok": ok,
        "message": None if ok else push_message(summary, changed_now, moved_now),
    }


def push_message(summary: dict[str, Any], changed_after_create: int = 0, company_changed: int = 0) -> str:
    """One line saying what needs a person after a push."""
    parts = []
    if summary["rejected"]:
        reasons = ", ".join(f"{code} {count}" for code, count in summary["rejected_by_reason"].items())
        parts.append(f"{summary['rejected']} {'would be ' if summary['dry_run'] else ''}rejected ({reasons})")
    if summary["failed"]:
        parts.append(f"{summary['failed']} failed (tried again by the next run)")
    not_sent = {code: n for code, n in summary["not_sent_by_reason"].items() if code != NOT_ON_PEPPOL}
    if held := not_sent.pop(CHANGED_AFTER_CREATE, 0):
        parts.append(f"{held} created, then changed in the source: not sent until a person decides")
    if moved := not_sent.pop(COMPANY_CHANGED_AFTER_CREATE, 0):
        parts.append(f"{moved} created, then given another company_id: not sent (an order stays where it was made)")
    if not_sent:
        reasons = ", ".join(f"{code} {count}" for code, count in not_sent.items())
        parts.append(f"{sum(not_sent.values())} not sent ({reasons}; a later push --send tries again)")
    if summary.get("differs_in_billit"):
        parts.append(
            f"{summary['differs_in_billit']} whose order in Billit differs from the row (made from other values, "
            "another tool's order with its id, or the row edited since: not sent)"
        )
    if skipped := summary.get("skipped_with_order_id"):
        parts.append(
            f"{skipped} pending or failed with a billit_order_id, skipped (neither created nor sent: status 'created' "
            "if that order is the row's, else clear billit_order_id)"
        )
    if changed_after_create:
        parts.append(
            f"{changed_after_create} changed in the source after they were created in Billit (not pushed again)"
        )
    if company_changed:
        parts.append(
            f"{company_changed} attempted before and given another company_id by the source (rejected, not moved)"
        )
    if summary["dry_run"]:
        where = "a dry run writes nothing: the rows and their reasons are listed (the push records them on the rows)"
    else:
        where = "see outbound_invoices.last_error_code / last_error" + (
            " and change_reason" if changed_after_create else ""
        )
    return f"push{' (dry run)' if summary['dry_run'] else ''}: {', '.join(parts)}; {where}"


def problems_markdown(summary: dict[str, Any]) -> str:
    """The artifact listing the rows that need a person (markdown)."""
    if not summary["problems"]:
        return "# Rows that need a look\n\nNone: no row was rejected or failed, and none changed after create.\n"
    lines = [
        "# Rows that need a look",
        "",
        f"{summary['message']}",
        "",
        "| external_id | outcome | code | reason |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {_markdown(row['external_id'])} | {row['outcome']} | {_markdown(row['code'])} | "
        f"{_markdown(row['reason'], 300)} |"
        for row in summary["problems"]
    ]
    if summary["problems_more"] > 0 and summary["dry_run"]:  # it wrote nothing a query could find
        lines += ["", f"... and {summary['problems_more']} more (a push records each reason on its row)"]
    elif summary["problems_more"] > 0:
        lines += [
            "",
            f"... and {summary['problems_more']} more: `select external_id, status, last_error_code, "
            "last_error from outbound_invoices where status in ('rejected', 'failed')`",
        ]
    return "\n".join(lines) + "\n"


def _markdown(text: Any, limit: int = 120) -> str:
    cell = " ".join(str(text).split())
    cell = cell if len(cell) <= limit else cell[: limit - 3] + "..."
    return cell.replace("\\", "\\\\").replace("|", "\\|")


#: The take-in's counts, as the push summary shows them.
SOURCE_COUNTS = (
    "invoices",
    "lines",
    "inserted",
    "updated",
    "unchanged",
    "busy",
    "changed_after_create",
    "still_changed_after_create",
    "cleared",
)
