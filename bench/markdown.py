"""Markdown pieces the report is made of."""

from __future__ import annotations


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def not_measured(part: str) -> str:
    return f"*Not measured in this run* (`bench/results/{part}.json` is missing)."
