"""Everything users read speaks of the product, not of how it was built.

The README, the documentation pages, CHANGELOG, CONTRIBUTING and the package's source (docstrings,
comments, messages) are scanned for traces of the build process: ownership markers, commit hashes in prose,
references to earlier runs, to documents that are not shipped (the specification, the architecture notes),
to tracker issue numbers, to the development machines or to work sessions. Product words that look alike
(the market's trading sessions, an ONNX Runtime ``InferenceSession``) are told apart by their line.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# what users read: the top-level documents, the documentation site's sources and the package
FILES = sorted(
    [
        ROOT / "README.md",
        ROOT / "CHANGELOG.md",
        ROOT / "CONTRIBUTING.md",
        ROOT / "mkdocs.yml",
        *(ROOT / "docs").rglob("*.md"),
        *(ROOT / "docs").rglob("*.py"),
        *(ROOT / "src").rglob("*.py"),
    ]
)

MARKERS: dict[str, re.Pattern[str]] = {
    "ownership marker": re.compile(r"<!--\s*/?section:|\bowned by\b|\bedit only between\b", re.I),
    "commit in prose": re.compile(r"\bat commit\b|\b(?=[0-9a-f]{0,39}[0-9])(?=[0-9a-f]{0,39}[a-f])[0-9a-f]{7,40}\b"),
    "run history": re.compile(r"\bearlier runs?\b", re.I),
    "unshipped document": re.compile(
        r"\bthe spec\b|\bspec's\b|\bspec (?:asks|calls|passes|says)\b|\bSEED_README\b|\bARCHITECTURE\.md\b"
        r"|\bSTYLE\.md\b|\bTEAM\.md\b",
        re.I,
    ),
    "issue number": re.compile(r"\bissues? #?\d+|\bthe issue(?:'s)?\b", re.I),
    "development machine": re.compile(
        r"\bshared (?:\d-core |dev(?:elopment)? |CPU )?machines?\b|\bthis project's (?:CPU )?machines?\b", re.I
    ),
    "work session": re.compile(
        r"\b(?:one|this|that|a|another|each|every|the|earlier|previous|later|next|same|our|work|development|dev)"
        r" sessions?\b",
        re.I,
    ),
}

# a line naming a session in the product's sense: the market's trading sessions, ONNX Runtime's session
PRODUCT_SESSION = re.compile(
    r"trading|market|asia|europe|\bus\b|london|tokyo|new york|weekend|calendar|flag|hours|\bdst\b|overlap|time zone"
    r"|InferenceSession|session\.run|session = ",
    re.I,
)


def find_markers(text: str) -> list[tuple[int, str, str]]:
    """``(line number, marker kind, line)`` of every trace of the build process in ``text``."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for kind, pattern in MARKERS.items():
            if not pattern.search(line):
                continue
            if kind == "work session" and PRODUCT_SESSION.search(line):
                continue
            found.append((number, kind, line.strip()))
    return found


@pytest.mark.parametrize(
    "text",
    [
        "<!-- section:attention (owned by the attention work; edit only between these markers) -->",
        "Measured in one `mlattn demo` run (tree at commit `545b93c`)",
        "the figures of an earlier run",
        "The spec's examples, as written.",
        "Protocol (issue 2): CPU, float32",
        "Why this shape (issue 6):",
        "on the shared 2-core machine",
        "Measured on this project's CPU machine",
        "One session of this project was lent an H200",
        "measured in an earlier session",
        "see ARCHITECTURE.md",
    ],
)
def test_each_marker_is_caught(text: str) -> None:
    assert find_markers(text), text


@pytest.mark.parametrize(
    "text",
    [
        "sessions: Asia / Europe / US session flags with DST, their two overlaps, weekend (6).",
        'session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])',
        "if c.sessions:",
        "the US session opens at 08:00 New York time",
        "sha256 of every data file read; checkpoints carry content_sha256",
        "timestamps 1640995200 + 60 * torch.arange(16)",
        "a deadline of 2021-06-10; the decimal mark is decided per file",
    ],
)
def test_product_text_is_not_a_marker(text: str) -> None:
    assert not find_markers(text), text


def test_the_scanned_files_exist() -> None:
    names = {p.name for p in FILES}
    assert {"README.md", "CHANGELOG.md", "CONTRIBUTING.md", "index.md", "__init__.py"} <= names


def test_no_process_artefacts_in_what_users_read() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {kind}: {line[:140]}"
        for path in FILES
        for number, kind, line in find_markers(path.read_text(encoding="utf-8"))
    ]
    assert not found, "traces of the build process (speak of the product instead):\n" + "\n".join(found)
