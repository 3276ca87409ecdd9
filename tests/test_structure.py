"""The package's structure: imports that run one way, and families that only their folders name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "factory_ai"
FAMILY_FOLDERS = ("vision", "forecast", "anomaly", "health")


def test_no_import_circles() -> None:
    """No module of factory_ai reaches itself through its imports (type-checking imports included)."""
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("factory_ai")
    modules = sorted(graph.modules)
    index = {m: i for i, m in enumerate(modules)}
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in modules}
    # Tarjan's strongly connected components: a component of two or more modules is a circle.
    counter, stack, on_stack, low, number, circles = [0], [], set(), {}, {}, []

    def visit(m: str) -> None:
        number[m] = low[m] = counter[0]
        counter[0] += 1
        stack.append(m)
        on_stack.add(m)
        for n in edges[m]:
            if n not in index:
                continue
            if n not in number:
                visit(n)
                low[m] = min(low[m], low[n])
            elif n in on_stack:
                low[m] = min(low[m], number[n])
        if low[m] == number[m]:
            component = []
            while True:
                n = stack.pop()
                on_stack.discard(n)
                component.append(n)
                if n == m:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    import sys

    sys.setrecursionlimit(10_000)
    for m in modules:
        if m not in number:
            visit(m)
    assert circles == [], circles


LITERAL = re.compile(r"""family["'\])]*\s*[!=]=\s*["']|[!=]=\s*["'](vision-classifier|forecast|anomaly|health)["']""")


def test_only_a_familys_own_folder_names_its_id() -> None:
    """Outside a family's folder, code goes through the family table, never `family == "..."`."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in FAMILY_FOLDERS:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if LITERAL.search(line):
                found.append(f"{relative}:{number}: {line.strip()}")
    assert found == [], "\n".join(found)


def test_the_grep_sees_what_it_forbids(tmp_path: Path) -> None:
    """The pattern above catches the ways such a branch is written (so the test can fail)."""
    for line in ('if card["family"] == "forecast":', "if card.get('family') != 'vision-classifier':",
                 'elif family == "anomaly":', 'x = kind == "health"'):
        assert LITERAL.search(line), line
    assert not LITERAL.search("if card.get('family') == family.id:")
