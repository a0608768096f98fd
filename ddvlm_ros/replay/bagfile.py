"""rosbag2 files (sqlite3 or mcap) holding rclpy messages, through the pure-Python `rosbags` library.

Messages are stored as the CDR bytes rclpy itself serializes, so what is written is exactly what a
publisher would send and what `ros2 bag record` would have stored; rosbags only needs each type's
message definition for the bag's metadata, which comes from its typestore or, for types it does not
ship (ddvlm_msgs), from the installed `.msg` files.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rclpy.serialization import deserialize_message, serialize_message
from rosbags.interfaces import Nodetype
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}


class BagError(RuntimeError):
    """A bag that cannot be opened or holds something this tool cannot use; the message says what."""


def type_name(msg_or_class: Any) -> str:
    """'pkg/msg/Name' of an rclpy message instance or class."""
    cls = msg_or_class if isinstance(msg_or_class, type) else type(msg_or_class)
    package = cls.__module__.split(".")[0]
    return f"{package}/msg/{cls.__name__}"


def message_class(name: str) -> type:
    """The generated rclpy class of 'pkg/msg/Name'; BagError naming the type when it is not installed."""
    package, kind, cls = _split(name)
    try:
        return getattr(importlib.import_module(f"{package}.{kind}"), cls)
    except (ImportError, AttributeError) as err:
        raise BagError(f"message type {name} is not installed here (cannot import {package}.{kind})") from err


def _split(name: str) -> tuple[str, str, str]:
    parts = name.split("/")
    if len(parts) != 3:
        raise BagError(f"bad message type name {name!r} (expected pkg/msg/Name)")
    return parts[0], parts[1], parts[2]


def _typestore_with(names: Iterable[str]):
    """Jazzy typestore plus the installed definitions of any listed type it lacks (and their deps)."""
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

    store = get_typestore(Stores.ROS2_JAZZY)
    pending = [n for n in names if n not in store.fielddefs]
    while pending:
        name = pending.pop()
        if name in store.fielddefs:
            continue
        package, kind, cls = _split(name)
        try:
            path = Path(get_package_share_directory(package)) / kind / f"{cls}.msg"
        except PackageNotFoundError as err:
            raise BagError(f"no definition of {name}: package {package} is not installed") from err
        if not path.is_file():
            raise BagError(f"no definition of {name}: {path} does not exist")
        types = get_types_from_msg(path.read_text(encoding="utf-8"), name)
        store.register(types)
        for _, fields in types.values():
            for _, field in fields:
                pending.extend(_nested_names(field))
    return store


def _nested_names(field: Any) -> list[str]:
    """Message type names referenced by a rosbags field definition (nested or arrays of nested)."""
    kind, detail = field
    if kind == Nodetype.NAME:
        return [detail]
    if kind in (Nodetype.ARRAY, Nodetype.SEQUENCE):
        return _nested_names(detail[0])
    return []


class BagWriter:
    """Write rclpy messages to a new rosbag2 directory; use as a context manager."""

    def __init__(self, path: str | Path, storage: str = "mcap", types: Iterable[str] = ()) -> None:
        if storage not in STORAGES:
            raise BagError(f"unknown storage {storage!r}; expected one of {sorted(STORAGES)}")
        self.path = Path(path)
        if self.path.exists():
            raise BagError(f"output bag {self.path} already exists; remove it or choose another path")
        self._store = _typestore_with(types)
        self._writer = Writer(self.path, version=9, storage_plugin=STORAGES[storage])
        self._connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    def __enter__(self) -> BagWriter:
        self._writer.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self._writer.close()

    def add_topic(self, topic: str, msg_type: str) -> None:
        """Declare a topic before writing to it (the typestore learns msg_type if it has to)."""
        if topic in self._connections:
            return
        if msg_type not in self._store.fielddefs:
            self._store = _typestore_with([*self._store.fielddefs, msg_type])
        self._connections[topic] = self._writer.add_connection(topic, msg_type, typestore=self._store)
        self.counts[topic] = 0

    def write(self, topic: str, stamp_ns: int, msg: Any) -> None:
        """Append msg on topic with bag timestamp stamp_ns (declares the topic on first use)."""
        self.add_topic(topic, type_name(msg))
        self._writer.write(self._connections[topic], int(stamp_ns), serialize_message(msg))
        self.counts[topic] += 1


@dataclass(frozen=True)
class TopicInfo:
    name: str
    type: str
    count: int


@dataclass(frozen=True)
class BagMessage:
    topic: str
    type: str
    stamp_ns: int  # the bag's (receive/record) time, not the header stamp
    msg: Any


class BagReader:
    """Read a rosbag2 directory (either storage) as rclpy messages, in bag-time order."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not (self.path / "metadata.yaml").is_file():
            raise BagError(f"{self.path} is not a rosbag2 directory (no metadata.yaml)")
        try:
            self._reader = Reader(self.path)
            self._reader.open()
        except Exception as err:  # rosbags raises several types for unreadable bags
            raise BagError(f"cannot open bag {self.path}: {err}") from err

    def __enter__(self) -> BagReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._reader.close()

    @property
    def topics(self) -> list[TopicInfo]:
        return [
            TopicInfo(c.topic, c.msgtype, c.msgcount)
            for c in sorted(self._reader.connections, key=lambda c: c.topic)
        ]

    @property
    def start_ns(self) -> int:
        return int(self._reader.start_time)

    @property
    def duration_ns(self) -> int:
        return int(self._reader.duration)

    @property
    def message_count(self) -> int:
        return int(self._reader.message_count)

    def messages(self, topics: Iterable[str] | None = None) -> Iterator[BagMessage]:
        """Messages of the given topics (all when None), deserialized with the installed classes."""
        wanted = None if topics is None else set(topics)
        connections = [c for c in self._reader.connections if wanted is None or c.topic in wanted]
        classes = {c.id: message_class(c.msgtype) for c in connections}
        for conn, stamp, raw in self._reader.messages(connections=connections):
            yield BagMessage(conn.topic, conn.msgtype, int(stamp), deserialize_message(raw, classes[conn.id]))
