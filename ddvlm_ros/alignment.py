"""Time alignment between the image stream and utterances: which face features are an utterance's evidence.

Pure Python (no rclpy) so that the rules that decide which frames belong to an utterance are
unit-testable without DDS. All times are integer nanoseconds.
"""

from __future__ import annotations

import bisect
import enum
from collections import deque
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

NS_PER_S = 1_000_000_000


class AddResult(enum.Enum):
    """Why a frame's face features were or were not buffered (the engine counts each non-OK reason)."""

    OK = "ok"
    OUT_OF_ORDER = "out_of_order"  # older than the newest buffered entry
    DUPLICATE = "duplicate"  # same stamp as the newest buffered entry


def seconds_to_ns(seconds: float) -> int:
    """Seconds (float) to integer nanoseconds, rounding to the nearest nanosecond."""
    return int(round(seconds * NS_PER_S))


class FaceFeatureBuffer(Generic[T]):
    """Face features of analysed frames by frame stamp, bounded in count and in age, so memory never
    grows with stream length.

    Entries must arrive in stamp order (a camera's stamps do); older or equal stamps are refused and
    reported, never reordered, because a window query assumes sorted stamps.
    """

    def __init__(self, max_entries: int, max_age_ns: int) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        if max_age_ns <= 0:
            raise ValueError(f"max_age_ns must be > 0, got {max_age_ns}")
        self.max_entries = max_entries
        self.max_age_ns = max_age_ns
        self._stamps: deque[int] = deque()
        self._items: deque[T] = deque()

    def __len__(self) -> int:
        return len(self._stamps)

    def __iter__(self) -> Iterator[tuple[int, T]]:
        return iter(zip(list(self._stamps), list(self._items), strict=True))

    @property
    def newest_ns(self) -> int | None:
        """Stamp of the newest entry, or None when empty."""
        return self._stamps[-1] if self._stamps else None

    def add(self, stamp_ns: int, item: T) -> AddResult:
        """Append an entry; evicts the oldest entries beyond max_entries or older than max_age_ns."""
        newest = self.newest_ns
        if newest is not None:
            if stamp_ns == newest:
                return AddResult.DUPLICATE
            if stamp_ns < newest:
                return AddResult.OUT_OF_ORDER
        self._stamps.append(stamp_ns)
        self._items.append(item)
        while len(self._stamps) > self.max_entries:
            self._pop_oldest()
        self.prune(stamp_ns - self.max_age_ns)
        return AddResult.OK

    def prune(self, older_than_ns: int) -> int:
        """Drop entries stamped before older_than_ns; returns how many were dropped."""
        dropped = 0
        while self._stamps and self._stamps[0] < older_than_ns:
            self._pop_oldest()
            dropped += 1
        return dropped

    def clear(self) -> None:
        """Forget everything (e.g. after the clock jumped back)."""
        self._stamps.clear()
        self._items.clear()

    def window(self, start_ns: int, end_ns: int) -> list[tuple[int, T]]:
        """Entries with start_ns <= stamp <= end_ns, oldest first."""
        if end_ns < start_ns:
            raise ValueError(f"window end {end_ns} is before its start {start_ns}")
        stamps = list(self._stamps)
        lo = bisect.bisect_left(stamps, start_ns)
        hi = bisect.bisect_right(stamps, end_ns)
        items = list(self._items)
        return [(stamps[i], items[i]) for i in range(lo, hi)]

    def _pop_oldest(self) -> None:
        self._stamps.popleft()
        self._items.popleft()


def utterance_window(end_ns: int, start_ns: int, pad_ns: int, fallback_ns: int) -> tuple[int, int]:
    """The time span whose frames are an utterance's visual evidence.

    [start − pad, end + pad]; when the ASR did not report a start (start_ns == 0) the utterance is
    assumed to have lasted fallback_ns. A start after the end is treated like an unknown start,
    because trusting it would give an empty (or inverted) window.
    """
    if pad_ns < 0 or fallback_ns <= 0:
        raise ValueError(f"pad must be >= 0 and fallback > 0 (got pad={pad_ns}, fallback={fallback_ns})")
    if start_ns <= 0 or start_ns > end_ns:
        start_ns = end_ns - fallback_ns
    return max(0, start_ns - pad_ns), end_ns + pad_ns


def pick_evenly(entries: list[T], count: int) -> list[T]:
    """Up to count entries spread evenly over the list (first and last kept), so a long utterance
    contributes frames from its whole span rather than only its start."""
    if count <= 0:
        return []
    n = len(entries)
    if n <= count:
        return list(entries)
    if count == 1:
        return [entries[n // 2]]
    return [entries[round(i * (n - 1) / (count - 1))] for i in range(count)]
