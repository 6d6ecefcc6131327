"""The package's DESIGN.md names real files and definitions, so the map from the paper's
equations to the code cannot silently drift from the code."""

import ast
import re
from pathlib import Path
from typing import Dict, List, Set

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "mu2slam_fairseq"
NOTE = PACKAGE / "DESIGN.md"
PAPER_ROWS = [
    "Eq. 1",
    "Eq. 2",
    "Eq. 3",
    "Eq. 4",
    "Eq. 5",
    "Eq. 6",
    "§3.2",
    "§2.3",
    "§2.4",
    "§2.4",
    "§2.4",
]


def table_rows() -> List[List[str]]:
    lines = [
        line for line in NOTE.read_text(encoding="utf-8").splitlines() if line.startswith("| ")
    ]
    return [
        [cell.strip() for cell in line.strip("|").split("|")] for line in lines[1:]
    ]  # no header


def resolve(path: str) -> Path:
    """Paths under tests/ and examples/ are the repository's; all others the package's."""
    return REPO / path if path.split("/")[0] in ("tests", "examples") else PACKAGE / path


def definitions(path: Path) -> Set[str]:
    """Top-level functions, classes and assigned names of a module, and ``Class.method``
    for the methods of its classes."""
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        if isinstance(node, ast.Assign):
            names.update(
                n.id for target in node.targets for n in ast.walk(target) if isinstance(n, ast.Name)
            )
        if isinstance(node, ast.ClassDef):
            names.update(
                f"{node.name}.{m.name}" for m in node.body if isinstance(m, ast.FunctionDef)
            )
    return names


def homes(cell: str) -> Dict[str, List[str]]:
    """{file: [definitions named right after it]} of a Home cell (parenthesised text aside)."""
    cell = re.sub(r"\([^)]*\)", "", cell)
    found: Dict[str, List[str]] = {}
    for m in re.finditer(r"`([\w/]+\.py)`(\s*[:,]\s*`[\w.]+`)*", cell):
        found[m.group(1)] = re.findall(r"`([\w.]+)`", m.group(0)[len(m.group(1)) + 2 :])
    return found


def test_every_equation_has_one_row():
    assert [row[0] for row in table_rows()] == PAPER_ROWS


@pytest.mark.parametrize("row", table_rows(), ids=lambda r: f"{r[0]} {r[1][:30]}")
def test_each_home_names_existing_definitions(row):
    found = homes(row[2])
    assert found and all(found.values()), f"a file without the definition it holds in {row[2]!r}"
    missing = {
        f: [n for n in names if n not in definitions(resolve(f))] for f, names in found.items()
    }
    assert {f: names for f, names in missing.items() if names} == {}


def test_every_path_in_the_note_exists():
    paths = set(re.findall(r"`((?:[\w.-]+/)+[\w.-]*)`", NOTE.read_text(encoding="utf-8")))
    assert {
        "data/pipeline/views.py",
        "criterions/mu2slam_loss.py",
        "tests/test_pretrain.py",
    } <= paths
    assert sorted(p for p in paths if not resolve(p).exists()) == []
