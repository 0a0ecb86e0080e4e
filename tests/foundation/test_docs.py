"""docs/ stays in step with the code: every citation of a docs page in code, tests or the README names a page
that exists (and an invariant that exists), and every module the architecture page names is a real file."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
CITATION = re.compile(r"docs/([a-z-]+\.md)(?:#([a-z-]+)| #(\d+))?")
INVARIANT = re.compile(r"^(\d+)\. \*\*", re.MULTILINE)
MODULE = re.compile(r"`((?:calsync|sync|backend|admin_panel)(?:\.[a-z_]+)+)")


def tracked(*patterns: str) -> list[Path]:
    out = subprocess.run(["git", "ls-files", *patterns], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT / name for name in out.stdout.split()]


def headings(page: Path) -> set[str]:
    return {
        re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
        for h in re.findall(r"^#+ (.+)$", page.read_text(), re.MULTILINE)
    }


def test_every_citation_names_a_page_an_anchor_and_an_invariant_that_exist():
    invariants = {int(n) for n in INVARIANT.findall((DOCS / "invariants.md").read_text())}
    assert invariants == set(range(1, 15))  # numbers are stable: a new invariant takes the next one
    cited = 0
    for path in tracked("*.py", "*.md", "*.js", "*.html"):
        for page, anchor, number in CITATION.findall(path.read_text(encoding="utf-8")):
            cited += 1
            where = path.relative_to(ROOT)
            assert (DOCS / page).exists(), f"{where} cites docs/{page}, which does not exist"
            if anchor:
                assert anchor in headings(DOCS / page), f"{where} cites docs/{page}#{anchor}: no such heading"
            if number:
                assert page == "invariants.md" and int(number) in invariants, f"{where} cites #{number}"
    assert cited > 20  # the code does cite the docs


def test_the_modules_the_docs_name_exist():
    for page in DOCS.glob("*.md"):
        for dotted in MODULE.findall(page.read_text()):
            parts = dotted.split(".")
            # A prefix of at least package.module is a file; the rest may be a name inside it.
            found = any(
                ROOT.joinpath(*parts[:n]).with_suffix(".py").exists()
                or (ROOT.joinpath(*parts[:n]) / "__init__.py").exists()
                for n in range(len(parts), 1, -1)
            )
            assert found, f"docs/{page.name} names {dotted}, which is not in the code"
