"""Build the book (book/_build/html) from the executed notebooks in book/notebooks, and check it.

Nothing is executed here. ``make test`` and ``make book`` run ``tests/test_notebooks.py`` with
``CLIMAX_NB_KEEP_EXECUTED=book/notebooks``, which writes each notebook there with its outputs once
it ran without error (tests/conftest.py); this script refuses copies that are missing or no longer
match the notebooks in ``notebooks/``, builds the HTML with Jupyter Book (execution off), and checks
that every notebook has a page showing its figures.

    python book/build.py            # after `make test` or `make book`
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

BOOK = Path(__file__).resolve().parent
NOTEBOOKS = BOOK.parent / "notebooks"
EXECUTED = BOOK / "notebooks"
HTML = BOOK / "_build" / "html"
MIN_FIGURES = 2  # per page, as tests/test_notebooks.py asks of each executed notebook


def _sources(nb: nbformat.NotebookNode) -> list[str]:
    return [cell.source for cell in nb.cells]


def stale_copies() -> list[str]:
    """Problems with the executed copies: missing, changed since, or without outputs."""
    problems = []
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        copy = EXECUTED / path.name
        if not copy.exists():
            problems.append(f"{path.name}: no executed copy in {EXECUTED.relative_to(BOOK.parent)}/")
            continue
        executed = nbformat.read(copy, as_version=4)
        if _sources(executed) != _sources(nbformat.read(path, as_version=4)):
            problems.append(f"{path.name}: changed since it was executed")
        elif not any(cell.get("outputs") for cell in executed.cells if cell.cell_type == "code"):
            problems.append(f"{path.name}: the copy has no outputs")
    return problems


def jupyter_book() -> str:
    found = Path(sys.executable).with_name("jupyter-book")
    return str(found) if found.exists() else (shutil.which("jupyter-book") or "jupyter-book")


def figures_per_page() -> dict[str, int]:
    pages = {}
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        page = HTML / "notebooks" / f"{path.stem}.html"
        pages[path.name] = len(re.findall(r"<img [^>]*src=\"[^\"]*_images/", page.read_text())) if page.exists() else -1
    return pages


def main() -> int:
    problems = stale_copies()
    if problems:
        print("book: cannot build from the executed notebooks:\n  " + "\n  ".join(problems)
              + "\nrun `make book` (or `make test`) to execute them first", file=sys.stderr)
        return 1
    start = time.perf_counter()
    done = subprocess.run([jupyter_book(), "build", str(BOOK), "--builder", "html", "--all", "--quiet"])
    elapsed = time.perf_counter() - start
    if done.returncode:
        print(f"book: jupyter-book build failed (exit {done.returncode})", file=sys.stderr)
        return done.returncode
    pages = figures_per_page()
    missing = [name for name, n in pages.items() if n < 0]
    bare = [f"{name} ({n})" for name, n in pages.items() if 0 <= n < MIN_FIGURES]
    if missing or bare:
        print(f"book: no page for {missing}; fewer than {MIN_FIGURES} figures in {bare}", file=sys.stderr)
        return 1
    print(f"book: {len(pages)} pages, {sum(pages.values())} figures, built in {elapsed:.0f} s: "
          f"{(HTML / 'index.html').relative_to(BOOK.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
