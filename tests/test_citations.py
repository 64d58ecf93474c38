"""Every citation in code and docs points into the repo, at a section that exists.

A citation is a Markdown file of the repo with a section, `docs/reference/billit-api.md#paging`; the section is a
heading's GitHub anchor or an explicit `<a id="..."></a>`. Someone with only the clone must be able to follow it.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEARCHED = ("connectors", "tasks", "flows", "cli", "sandbox", "sql", "bench", "docs", "tests", "README.md")
SUFFIXES = {".py", ".md", ".sql", ".yaml", ".toml"}
# A repo path to a Markdown file, from the root: not the tail of a longer path, nor a relative link `](x.md#a)`.
CITATION = re.compile(r"(?<![\w/.\-])(?<!\]\()(\w[\w.\-]*(?:/[\w.\-]+)*\.md)#([\w\-]+)")
EXPLICIT_ANCHOR = re.compile(r'<a id="([\w\-]+)"></a>')
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$")


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation but `-` and `_` dropped, spaces as `-`."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    text = path.read_text()
    found = set(EXPLICIT_ANCHOR.findall(text))
    seen: dict[str, int] = {}
    in_code = False
    for line in text.splitlines():
        in_code ^= line.lstrip().startswith("```")
        heading = None if in_code else HEADING.match(line)
        if heading:
            anchor = github_anchor(heading[1])
            found.add(anchor if anchor not in seen else f"{anchor}-{seen[anchor]}")
            seen[anchor] = seen.get(anchor, 0) + 1
    return frozenset(found)


def sources() -> list[Path]:
    files: list[Path] = []
    for name in SEARCHED:
        top = ROOT / name
        files += [top] if top.is_file() else [p for p in top.rglob("*") if p.suffix in SUFFIXES and p.is_file()]
    return [path for path in files if "results" not in path.relative_to(ROOT).parts]


def test_github_anchors_are_made_as_github_makes_them() -> None:
    assert github_anchor("`sync all` beside a bare httpx loop (`bench/sync_all.py`)") == (
        "sync-all-beside-a-bare-httpx-loop-benchsync_allpy"
    )
    assert github_anchor("Which way imports go") == "which-way-imports-go"


def test_every_citation_names_a_file_and_a_section_of_the_repo() -> None:
    broken = []
    count = 0
    for path in sources():
        for match in CITATION.finditer(path.read_text(errors="replace")):
            count += 1
            target = ROOT / match[1]
            if not target.is_file() or match[2] not in anchors(target):
                broken.append(f"{path.relative_to(ROOT)}: {match[0]}")
    assert count > 100  # the search sees the citations
    assert not broken, "citations to no file or section:\n" + "\n".join(broken)


def test_every_link_to_a_section_in_the_docs_finds_it() -> None:
    broken = []
    for path in sources():
        if path.suffix != ".md":
            continue
        for match in re.finditer(r"\]\(([^)\s#]*)#([\w\-]+)\)", path.read_text()):
            if match[1].startswith(("http:", "https:")):
                continue
            target = (path.parent / match[1]).resolve() if match[1] else path
            if not target.is_file() or match[2] not in anchors(target):
                broken.append(f"{path.relative_to(ROOT)}: {match[0]}")
    assert not broken, "links to no file or section:\n" + "\n".join(broken)
