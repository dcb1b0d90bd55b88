"""Lesson 03 runs on Azure as well: what only the sandbox has is marked **Sandbox only** and guarded.

On Azure, ``target.sandbox`` does not exist and ``open_mailbox`` refuses (mail goes to real inboxes),
so each use must sit under ``if target.is_sandbox:`` with the markdown before the cell saying so.
"""

from __future__ import annotations

import ast
from pathlib import Path

import jupytext

LESSON = Path(__file__).resolve().parents[2] / "notebooks" / "src" / "03_logic_app_email_alerts.py"
MARK = "**Sandbox only**"


def _sandbox_only(node: ast.AST) -> bool:
    """``target.sandbox``, ``open_mailbox(...)``, or the sandbox mailbox ``box``."""
    if isinstance(node, ast.Attribute) and node.attr == "sandbox" and isinstance(node.value, ast.Name):
        return node.value.id == "target"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id == "open_mailbox"
    return isinstance(node, ast.Name) and node.id == "box"


def _guarded(node: ast.AST, parents: dict) -> bool:
    while node in parents:
        node = parents[node]
        test = getattr(node, "test", None)
        if isinstance(node, ast.If) and isinstance(test, ast.Attribute) and test.attr == "is_sandbox":
            return True
    return False


def test_sandbox_only_code_is_guarded_and_marked_in_the_markdown_before_it():
    cells = jupytext.read(LESSON, fmt="py:percent").cells
    problems, markdown = [], ""
    for i, cell in enumerate(cells):
        if cell.cell_type == "markdown":
            markdown = cell.source
            continue
        tree = ast.parse(cell.source)
        parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
        uses = [n for n in ast.walk(tree) if _sandbox_only(n)]
        for node in uses:
            if not _guarded(node, parents):
                problems.append(f"cell {i} line {node.lineno}: {ast.unparse(node)} is not under if target.is_sandbox")
        if uses and MARK not in markdown:
            problems.append(f"cell {i}: the markdown before it does not say {MARK}")
        if ".pump(" in cell.source:
            problems.append(f"cell {i}: drives the delivery engine by hand; use target.wait_for")
    assert not problems, "\n".join(problems)
