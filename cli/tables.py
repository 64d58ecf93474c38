"""The tables every command prints, laid out so that nothing in them is cut: columns share the width and wrap at
their spaces, and a table too wide for it is printed as records, one `column  value` line each (`data_table`)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from cli.app import console

#: Narrowest a prose column (an error, a reason) gets when a table is squeezed: it wraps, and folds a longer word.
PROSE_MIN_WIDTH = 12
#: Columns two spaces apart under a rule: what a table squeezed out of its box's lines looks like.
_COMPACT: dict[str, Any] = {"box": box.SIMPLE_HEAD, "show_edge": False, "pad_edge": False, "collapse_padding": True}


def data_table(
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    right: Collection[str] = (),
    prose: Collection[str] = (),
    width: int | None = None,
) -> Table:
    """A table of `rows` (each cell as `cell` shows it) that fits `width` (default: the console's) without cutting a
    value: no cell ends in `…`, and no column falls off the right edge.

    Left to itself, rich shares a narrow width out evenly whatever the cells hold (`incoming` became `incom…`,
    `349` would fold to `34/9`), and a column's `min_width` makes the table wider than the console, whose
    right-hand columns are then cropped. So the widths are chosen here: no column is narrower than the longest word
    of its values, so a value (a stream, a mode, a status, an id, a count) is never cut or folded, and one with
    spaces (a timestamp) at most wraps at them. Headers wrap instead; `prose` columns wrap at spaces and fold a word
    longer than `PROSE_MIN_WIDTH`. A table that fits only without its box's lines, or whose headers do not fit
    between them, drops the lines for columns two spaces apart; only when not even its values fit that way are
    values folded (never dropped).
    """
    width = console.width if width is None else width
    cells = [[cell(value) for value in row] for row in rows]
    natural = [max([len(label), *(len(row[i]) for row in cells)]) for i, label in enumerate(columns)]
    floors = []
    for i, label in enumerate(columns):
        word = _longest_word(row[i] for row in cells)
        floors.append(min(word, PROSE_MIN_WIDTH) if label in prose else word)
    headers = [
        max(floor, min(_longest_word([label]), want))
        for label, floor, want in zip(columns, floors, natural, strict=True)
    ]
    boxed_room, compact_room = width - (3 * len(columns) + 1), width - 2 * (len(columns) - 1)
    if cells and sum(headers) > compact_room:  # not even whole header words fit side by side: one row per value
        return _records(title, columns, cells, width)
    style: dict[str, Any] = {"min_width": min(len(title), width)}  # a short table keeps its title on one line
    widths: list[int] | None = None  # None: rich's own layout, which then has room for every cell on one line
    if sum(natural) > boxed_room:
        if sum(natural) > compact_room and sum(headers) <= boxed_room:
            widths = _spread(floors, (headers, natural), boxed_room)
        else:
            style |= _COMPACT
            if sum(natural) > compact_room and sum(floors) <= compact_room:
                widths = _spread(floors, (headers, natural), compact_room)
    table = Table(title=title, **style)
    for i, label in enumerate(columns):
        table.add_column(
            label,
            justify="right" if label in right else "left",
            overflow="fold",
            width=None if widths is None else widths[i],
        )
    for row in cells:  # as plain text: an id or a reason holding `[b]` or `[/]` is shown, not taken for markup
        table.add_row(*(Text(value) for value in row))
    return table


def titled_table(title: str, **options: Any) -> Table:
    """A table whose title stays on one line (as `data_table`'s do): a narrow table wrapped it mid-phrase."""
    return Table(title=title, min_width=min(len(title), console.width), **options)


def _records(title: str, columns: Sequence[str], cells: list[list[str]], width: int) -> Table:
    """The rows of a table too wide for `width` as records, one `column  value` line each, a blank line apart (as
    psql's expanded display does); a long value wraps at its spaces."""
    labels = max(len(label) for label in columns)
    table = Table(title=title, show_header=False, **_COMPACT)
    table.add_column(style="bold", no_wrap=True, width=labels)
    table.add_column(overflow="fold", max_width=max(width - labels - 2, PROSE_MIN_WIDTH))
    for number, row in enumerate(cells):
        if number:
            table.add_row("", "")
        for label, value in zip(columns, row, strict=True):
            table.add_row(label, Text(value))
    return table


def _longest_word(texts: Iterable[str]) -> int:
    return max((len(word) for text in texts for word in text.split()), default=1)


def _spread(floors: list[int], goals: Iterable[list[int]], room: int) -> list[int]:
    """Widths from `floors` up to `room` in all, toward each goal in turn (each header's longest word, so that it
    wraps at its spaces only; then each column's full width), a character at a time to the column lacking most."""
    widths = list(floors)
    for goal in goals:
        while sum(widths) < room:
            lacking = [want - have for want, have in zip(goal, widths, strict=True)]
            neediest = max(range(len(widths)), key=lacking.__getitem__)
            if lacking[neediest] <= 0:
                break
            widths[neediest] += 1
    return widths


def cell(value: object) -> str:
    """A table cell: empty for None, timestamps to the second, floats to one decimal."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)
