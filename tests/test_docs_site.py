"""The documentation site and the README link to what exists.

`make docs` (and CI) builds the whole site with ``mkdocs build --strict``. These tests check the settings
that make that build fail on a broken link: the site's own ``strict`` and ``validation`` settings, applied
to a tiny site with one defect each (a missing page, a missing anchor, a page left out of the navigation, an
absolute link), must abort, and the same site without the defect must build. The README, read on GitHub or
PyPI rather than in the site, and the examples' README are checked here directly: every relative link names a file that exists and
every anchor a heading of that file; its results table is the one of the evaluation page.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SITE_CONFIG = yaml.safe_load((ROOT / "mkdocs.yml").read_text())


def test_the_site_builds_strictly() -> None:
    assert SITE_CONFIG["strict"] is True
    links, nav = SITE_CONFIG["validation"]["links"], SITE_CONFIG["validation"]["nav"]
    for kind in ("not_found", "anchors", "absolute_links", "unrecognized_links"):
        assert links[kind] == "warn", kind  # strict mode makes each warning an error
    for kind in ("omitted_files", "not_found"):
        assert nav[kind] == "warn", kind
    assert SITE_CONFIG["theme"]["font"] is False  # no web fonts: the build and the site work offline


def _build(tmp_path: Path, pages: dict[str, str], nav: list[str]) -> None:
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in pages.items():
        (docs / name).write_text(text)
    config = {
        "site_name": "t",
        "docs_dir": "docs",
        "site_dir": "site",
        "strict": SITE_CONFIG["strict"],
        "validation": SITE_CONFIG["validation"],
        "markdown_extensions": ["toc"],
        "nav": nav,
    }
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config))
    build(load_config(str(tmp_path / "mkdocs.yml")))


GOOD = "# A\n\n[B](b.md), [its part](b.md#part), [here](#a-section)\n\n## A section\n"


def test_a_sound_site_builds(tmp_path: Path) -> None:
    _build(tmp_path, {"index.md": GOOD, "b.md": "# B\n\n## Part\n"}, ["index.md", "b.md"])
    assert (tmp_path / "site" / "b" / "index.html").exists()


@pytest.mark.parametrize(
    ("defect", "pages", "nav"),
    [
        ("missing page", {"index.md": GOOD.replace("(b.md)", "(c.md)")}, ["index.md", "b.md"]),
        ("missing anchor", {"index.md": GOOD.replace("b.md#part", "b.md#parts")}, ["index.md", "b.md"]),
        ("missing own anchor", {"index.md": GOOD.replace("#a-section", "#no-section")}, ["index.md", "b.md"]),
        ("page not in the navigation", {"index.md": GOOD}, ["index.md"]),
        ("absolute link", {"index.md": GOOD + "\n[abs](/b.md)\n"}, ["index.md", "b.md"]),
    ],
)
def test_each_broken_link_fails_the_build(
    defect: str, pages: dict[str, str], nav: list[str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from mkdocs.exceptions import Abort

    pages = {"b.md": "# B\n\n## Part\n", **pages}
    with caplog.at_level(logging.WARNING), pytest.raises(Abort):
        _build(tmp_path, pages, nav)


# --- the README -------------------------------------------------------------------------------------------

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(markdown: str) -> set[str]:
    """The ids Python-Markdown's ``toc`` gives the headings of a page (code spans read as their text)."""
    ids = set()
    for heading in re.findall(
        r"^#{1,6} (.+)$", re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M), re.M
    ):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
        slug = re.sub(r"[^\w\s-]", "", text).strip().lower()
        ids.add(re.sub(r"[-\s]+", "-", slug))
    return ids


@pytest.mark.parametrize(("page", "at_least"), [(README, 20), (ROOT / "examples" / "README.md", 2)], ids=str)
def test_the_readme_links_resolve(page: Path, at_least: int) -> None:
    targets = [t for t in LINK.findall(page.read_text()) if not re.match(r"[a-z]+:", t)]
    assert len(targets) >= at_least
    for target in targets:
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        assert file.exists(), f"{page.name} links to {path}, which does not exist"
        if anchor:
            assert anchor in _anchors(file.read_text()), f"{page.name} links to {target}: no such heading"


def _results_block(markdown: str) -> str:
    section = markdown.split("\n## Latest results\n", 1)[1]
    return re.search(r"^```text\n.*?^```", section, flags=re.S | re.M).group(0)  # type: ignore[union-attr]


def test_the_readme_shows_the_latest_results_of_the_evaluation_page() -> None:
    evaluation = (ROOT / "docs" / "evaluation.md").read_text()
    assert _results_block(README.read_text()) == _results_block(evaluation)
