"""Everything users read speaks of the product, not of how it was built.

The README, the documentation pages, CHANGELOG, CONTRIBUTING and the package's source (docstrings,
comments, messages) are scanned for traces of the build process: ownership markers, commit hashes in prose,
references to earlier runs, to documents that are not shipped (the specification, the architecture notes),
to tracker issue numbers, to the development machines or to work sessions. Product words that look alike
(the market's trading sessions, an ONNX Runtime ``InferenceSession``) are told apart by their line.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# what users read: the top-level documents, the documentation site's sources, the benchmarks' and examples'
# pages, the Makefile's targets and the package (docstrings, comments, messages); the command line's help is added below
FILES = sorted(
    [
        ROOT / "README.md",
        ROOT / "CHANGELOG.md",
        ROOT / "CONTRIBUTING.md",
        ROOT / "mkdocs.yml",
        ROOT / "Makefile",
        ROOT / "benchmarks" / "README.md",
        ROOT / "examples" / "README.md",
        *(ROOT / "docs").rglob("*.md"),
        *(ROOT / "docs").rglob("*.py"),
        *(ROOT / "src").rglob("*.py"),
    ]
)

MARKERS: dict[str, re.Pattern[str]] = {
    "ownership marker": re.compile(
        r"<!--\s*/?section:|\bowned by (?:the )?[\w-]+ (?:work|team|branch|developer|session)\b|\bedit only between\b",
        re.I,
    ),
    "commit in prose": re.compile(
        r"\bat commit\b|\b(?=[0-9a-f]{0,39}[0-9])(?=[0-9a-f]{0,39}[a-f])[0-9a-f]{7,40}\b"
    ),
    "run history": re.compile(r"\bearlier runs?\b", re.I),
    "unshipped document": re.compile(
        r"\bthe spec\b|\bspec's\b|\bspec (?:asks|calls|passes|says)\b|\bSEED_README\b|\bARCHITECTURE\.md\b"
        r"|\bSTYLE\.md\b|\bTEAM\.md\b",
        re.I,
    ),
    "issue number": re.compile(
        r"\bissue #?\d+\b|\bissues #\d+|\bissues \d+ (?:and|to|or) \d+\b|\bissue's\b", re.I
    ),
    "development machine": re.compile(
        r"\bshared (?:\d-core |dev(?:elopment)? |CPU )?machines?\b|\bthis project's (?:CPU |GPU )?machines?\b",
        re.I,
    ),
    "work session": re.compile(r"\bsessions?\b", re.I),
}

# "session" in the product's sense, where the match lies inside one of these: the market's trading sessions
# (and the market-time encoding's fields and flags for them), an ONNX Runtime session
PRODUCT_SESSION = re.compile(
    r"(?:trading|market|fx|asia|europe|us|london|tokyo|new york|sydney)[\s-]sessions?\b"
    r"|\bsessions?\s+(?:flags?|hours|opens?|closes?|local hours|with dst|\(fx)"
    r"|\bcalendar,\s+sessions\b|\bsessions,\s+(?:seasonality|crypto cycles|each monday)|\bweekend, session\b"
    r"|\b(?:c|self|config|cfg)\.sessions\b|\bsessions: (?:bool|asia)|\bsession\s*=\s*\w|\bsession\.run\b",
    re.I,
)


def find_markers(text: str) -> list[tuple[int, str, str]]:
    """``(line number, marker kind, line)`` of every trace of the build process in ``text``."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        product = [m.span() for m in PRODUCT_SESSION.finditer(line)]
        for kind, pattern in MARKERS.items():
            for match in pattern.finditer(line):
                if kind == "work session" and any(
                    a <= match.start() and match.end() <= b for a, b in product
                ):
                    continue
                found.append((number, kind, line.strip()))
                break
    return found


def cli_help() -> str:
    """The help text of ``mlattn`` and of every command, as ``mlattn [command] --help`` prints it."""
    from ml_attention_mechanisms.cli.main import build_parser

    parser = build_parser()
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return "\n".join([parser.format_help(), *(p.format_help() for p in sub.choices.values())])


@pytest.mark.parametrize(
    "text",
    [
        "<!-- section:attention (owned by the attention work; edit only between these markers) -->",
        "<!-- /section:attention -->",
        "this part is owned by the data team",
        "Measured in one `mlattn demo` run (tree at commit `545b93c`)",
        "the figures of e2a0479 hold",
        "the figures of an earlier run",
        "two earlier runs gave 16.8x",
        "The spec's examples, as written.",
        "as the spec asks",
        "in place of the spec",
        "see SEED_README.md",
        "see ARCHITECTURE.md",
        "Protocol (issue 2): CPU, float32",
        "Why this shape (issue #6):",
        "Issue 2's claims on CUDA",
        "the issue's targets",
        "as issues 13 and 14 ask",
        "on the shared 2-core machine",
        "on the shared machine",
        "Measured on this project's CPU machine",
        "One session of this project was lent an H200",
        "measured in an earlier session",
        "in this session",
        "Sessions: 3",
    ],
)
def test_each_marker_is_caught(text: str) -> None:
    assert find_markers(text), text


@pytest.mark.parametrize(
    "text",
    [
        "sessions: Asia / Europe / US session flags with DST, their two overlaps, weekend (6).",
        "sessions: bool = True",
        'session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])',
        "got = session.run(keys, feeds)",
        "if c.sessions:",
        "any_on = self.calendar or self.sessions or self.funding",
        "the US session opens at 08:00 New York time",
        "market-time features (calendar, sessions, ...) when timestamps are given",
        "calendar (cyclical), sessions with DST, the funding clock",
        "- sessions, each Monday-Friday in its own time zone",
        "Sessions (FX convention, each in its own time zone):",
        "session   local hours         time zone and DST rule      UTC hours",
        "queries and keys know the phase they stand at (weekday vs weekend, session, hour).",
        "hour, weekday and trading-session features",
        "the buffer is owned by the caller",
        "the specification of the Parquet format; special values",
        "the loader issues a warning; issues 2 warnings",
        "sha256 of every data file read; checkpoints carry content_sha256",
        "timestamps 1640995200 + 60 * torch.arange(16)",
        "a deadline of 2021-06-10; the decimal mark is decided per file",
        "resume from the last run's checkpoint; a second run on the same directory is refused",
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


def test_no_process_artefacts_in_the_command_line_help() -> None:
    text = cli_help()
    assert "mlattn demo" in text and "--no-progress" in text
    found = [f"{kind}: {line}" for _, kind, line in find_markers(text)]
    assert not found, "traces of the build process in mlattn's help:\n" + "\n".join(found)
