"""Memory of a process together with its descendants (emotion_node and its vision process), from /proc."""

from __future__ import annotations

from pathlib import Path


def process_tree(pid: int) -> list[int]:
    """pid and every live descendant of it."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo += children.get(p, [])
    return tree


def status_mb(pid: int, field: str = "VmRSS") -> float | None:
    """One /proc/<pid>/status memory field in MiB (None when the process or the field is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def tree_mb(pid: int, field: str = "VmRSS") -> float | None:
    """field summed over pid and its descendants; None when pid itself is gone."""
    values = [status_mb(p, field) for p in process_tree(pid)]
    if not values or values[0] is None:
        return None
    return sum(v for v in values if v is not None)
