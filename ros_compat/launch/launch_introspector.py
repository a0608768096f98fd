"""LaunchIntrospector: the indented tree `ros2 launch --print` shows, from each entity's describe()."""

from __future__ import annotations

from .action import LaunchDescriptionEntity


class LaunchIntrospector:
    """format_launch_description(ld) -> text, one entity per line, sub-entities indented."""

    def format_launch_description(self, launch_description: LaunchDescriptionEntity) -> str:
        lines = [f"<launch.LaunchDescription object at {hex(id(launch_description))}>"]
        self._walk(launch_description.describe_sub_entities(), 1, lines, set())
        return "\n".join(lines)

    def _walk(self, entities: list, depth: int, lines: list[str], seen: set[int]) -> None:
        for entity in entities:
            prefix = "│   " * (depth - 1) + "├── "
            lines.append(prefix + entity.describe())
            if id(entity) in seen:
                continue
            seen.add(id(entity))
            self._walk(entity.describe_sub_entities(), depth + 1, lines, seen)
            for text, sub in entity.describe_conditional_sub_entities():
                lines.append("│   " * depth + "├── " + text)
                self._walk(sub, depth + 2, lines, seen)
