"""The docs that code, tests and examples cite are in the repository, and so are the sections they cite.

Comments point readers at documents (`docs/venues.md §1.5`). A citation of a file that only existed somewhere else
(a bare name like "design notes" `.md` that no repository path matches, or a path outside the repository) leaves a
reader with nothing to follow, so every `*.md` named in a text file under addons/, tests/, bench/, examples/ and
docs/ (and the README) must name a file of this repository, and every numbered section cited in one of the
repository's `docs/*.md` must be one of that file's headings.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("addons", "tests", "bench", "examples", "docs")
TEXT_SUFFIXES = frozenset({".py", ".md", ".json", ".yaml", ".yml", ".toml", ".lua", ".txt", ".cfg", ".ini", ".sh",
                           ".conf"})
SKIPPED_DIRS = frozenset({"__pycache__", ".pytest_cache", ".hypothesis", ".mypy_cache", ".ruff_cache", ".venv",
                          ".git", "node_modules"})

# a markdown file named in text: `docs/venues.md`, `bench/README.md`, `README.md` (relative ones too); not `.mdx`
MARKDOWN_NAME = re.compile(r"[A-Za-z0-9_.:/-]*[A-Za-z0-9_]\.md(?![A-Za-z0-9_])")
# `docs/venues.md §1.5`, `docs/venues.md §0 and §4`, `docs/venues.md §1.7, §1.8`, `docs/venues.md §1.1-§1.6`
SECTION_CITATION = re.compile(r"(docs/[A-Za-z0-9_-]+\.md)((?:\s*(?:,|and|or|to|-)?\s*§\d+(?:\.\d+)*)+)")
SECTION_NUMBER = re.compile(r"§(\d+(?:\.\d+)*)")
# `## 1. Binance USDⓈ-M futures`, `### 1.5 Errors and ...`
NUMBERED_HEADING = re.compile(r"^#{1,6}\s+(\d+(?:\.\d+)*)\.?\s", re.MULTILINE)


def _skipped(path: Path) -> bool:
    return any(part in SKIPPED_DIRS or part.endswith(".egg-info") for part in path.relative_to(ROOT).parts)


def text_files() -> list[Path]:
    files = [ROOT / "README.md"]
    for top in SCANNED:
        base = ROOT / top
        if base.is_dir():
            files += [p for p in sorted(base.rglob("*"))
                      if p.is_file() and p.suffix in TEXT_SUFFIXES and not _skipped(p)]
    return files


def markdown_paths() -> frozenset[str]:
    """Every markdown file of the repository, as a path relative to its root."""
    return frozenset(p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*.md") if not _skipped(p))


def resolves(name: str, citing: Path, known: frozenset[str]) -> bool:
    """Whether a markdown name written in `citing` names a file of this repository.

    A name is read relative to the citing file's folder, then to the repository's root; a name with a folder in it
    may also be the end of a repository path (`compose/README.md` in a test about examples/). A bare name that is
    neither beside the citing file nor at the root, and anything that leaves the repository, does not resolve.
    """
    if "://" in name:
        return True  # a URL: not a file of this repository, and not a citation of one
    name = name.removeprefix("./")
    for base in (citing.parent, ROOT):
        candidate = (base / name).resolve()
        if candidate.is_relative_to(ROOT) and candidate.is_file():
            return True
    if "/" in name and not name.startswith(("../", "/")):
        return any(path.endswith("/" + name) for path in known)
    return False


def cited_sections(text: str) -> list[tuple[str, str]]:
    """(document, section number) for every `§N[.M]` citation of a markdown file under docs/ in `text`, lists and
    ranges included."""
    return [(document, number)
            for document, sections in SECTION_CITATION.findall(text)
            for number in SECTION_NUMBER.findall(sections)]


def headings(document: Path) -> frozenset[str]:
    return frozenset(NUMBERED_HEADING.findall(document.read_text(encoding="utf-8")))


def test_scan_when_text_names_a_markdown_file_then_the_file_is_in_the_repo() -> None:
    known = markdown_paths()
    missing = [f"{path.relative_to(ROOT)}: {name}"
               for path in text_files()
               for name in sorted(set(MARKDOWN_NAME.findall(path.read_text(encoding="utf-8", errors="replace"))))
               if not resolves(name, path, known)]

    assert missing == [], "cited documents that are not in the repository:\n" + "\n".join(missing)


def test_scan_when_text_cites_a_docs_section_then_the_section_is_a_heading() -> None:
    missing = []
    for path in text_files():
        for document, number in cited_sections(path.read_text(encoding="utf-8", errors="replace")):
            target = ROOT / document
            if not target.is_file() or number not in headings(target):
                missing.append(f"{path.relative_to(ROOT)}: {document} §{number}")

    assert missing == [], "cited sections that are not headings:\n" + "\n".join(missing)


@pytest.mark.parametrize(
    ("name", "found"),
    [
        ("docs/venues.md", True),
        ("README.md", True),
        ("bench/README.md", True),
        ("compose/README.md", True),  # the end of examples/compose/README.md
        ("venues" + ".md", False),  # a bare name of a file that is not at the root
        ("DESIGN" + ".md", False),
        ("anchors" + ".md", False),
        ("shared/websocket" + ".md", False),
        ("../shared/venues" + ".md", False),  # outside the repository
    ],
)
def test_resolve_when_name_given_then_only_repo_paths_resolve(name: str, found: bool) -> None:
    citing = ROOT / "addons" / "riskwall" / "venues" / "binance_usdm.py"

    assert resolves(name, citing, markdown_paths()) is found


def test_parse_when_citation_lists_sections_then_every_number_is_read() -> None:
    text = "see docs/venues.md §0 and §4, docs/venues.md §1.7, §1.8 or §3.7-§3.8; docs/venues.md is the file"

    assert cited_sections(text) == [("docs/venues.md", n) for n in ("0", "4", "1.7", "1.8", "3.7", "3.8")]


def test_headings_when_venues_doc_read_then_every_venue_section_is_numbered() -> None:
    numbers = headings(ROOT / "docs/venues.md")

    assert {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "1.5", "3.7", "4.7"} <= numbers
