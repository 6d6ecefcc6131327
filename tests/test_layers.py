"""The architecture's one-way data flow, as imports: the model knows no data layer, and
within data/ the pipeline reads stored data through data/io, never the reverse."""

import ast
from pathlib import Path
from typing import Iterator

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mu2slam_fairseq"


def imported(path: Path) -> Iterator[str]:
    """Absolute names of the package modules a file imports (relative imports resolved)."""
    package = list(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            yield from (f"{module}.{a.name}" for a in node.names) if not node.module else [module]
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names)


@pytest.mark.parametrize(
    "folder,forbidden",
    [
        ("models", "mu2slam_fairseq.data"),
        ("data/io", "mu2slam_fairseq.data.pipeline"),
        ("data/io", "mu2slam_fairseq.objectives"),
    ],
)
def test_imports_flow_one_way(folder, forbidden):
    files = sorted((PACKAGE / folder).glob("*.py"))
    assert files
    offending = [
        f"{f.relative_to(PACKAGE)} imports {name}"
        for f in files
        for name in imported(f)
        if name == forbidden or name.startswith(forbidden + ".")
    ]
    assert not offending, offending


def test_the_resolver_sees_relative_imports():
    names = set(imported(PACKAGE / "data/pipeline/rows.py"))
    assert "mu2slam_fairseq.data.io.manifest" in names and "mu2slam_fairseq.symbols" in names
