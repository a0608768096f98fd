"""Base class of events: things that happen while a launch runs (process exit, shutdown, ...)."""

from __future__ import annotations


class Event:
    """Upstream `launch.Event`: handlers are matched against instances of its subclasses."""

    name = "launch.Event"
