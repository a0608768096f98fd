"""Time alignment between the image stream and utterances, and per-conversation dialogue context.

Pure Python (no rclpy) so that the rules that decide which frames belong to an utterance and which
turns form its context are unit-testable without DDS. All times are integer nanoseconds.
"""

from __future__ import annotations

import bisect
import enum
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

NS_PER_S = 1_000_000_000


class AddResult(enum.Enum):
    """Why a frame was or was not buffered (the node counts each non-OK reason)."""

    OK = "ok"
    OUT_OF_ORDER = "out_of_order"  # older than the newest buffered entry
    DUPLICATE = "duplicate"  # same stamp as the newest buffered entry


def seconds_to_ns(seconds: float) -> int:
    """Seconds (float) to integer nanoseconds, rounding to the nearest nanosecond."""
    return int(round(seconds * NS_PER_S))


class FrameBuffer(Generic[T]):
    """Entries sorted by stamp, bounded in count and in age, so memory never grows with stream length.

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


@dataclass
class _Conversation(Generic[T]):
    turns: deque[T]
    last_active_ns: int
    state: dict = field(default_factory=dict)  # per-conversation extras (e.g. smoothed distribution)


class DialogueContext(Generic[T]):
    """Last N turns per conversation_id; idle conversations expire and the number of conversations is
    bounded (least recently active evicted first), so a chatty robot's memory stays flat."""

    def __init__(self, max_turns: int, idle_timeout_ns: int, max_conversations: int = 64) -> None:
        if max_turns < 0:
            raise ValueError(f"max_turns must be >= 0, got {max_turns}")
        if idle_timeout_ns <= 0:
            raise ValueError(f"idle_timeout_ns must be > 0, got {idle_timeout_ns}")
        if max_conversations < 1:
            raise ValueError(f"max_conversations must be >= 1, got {max_conversations}")
        self.max_turns = max_turns
        self.idle_timeout_ns = idle_timeout_ns
        self.max_conversations = max_conversations
        self._conversations: OrderedDict[str, _Conversation[T]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._conversations)

    def turns(self, conversation_id: str, now_ns: int) -> list[T]:
        """Previous turns of the conversation, oldest first (empty when unknown or expired)."""
        self.expire(now_ns)
        conv = self._conversations.get(conversation_id)
        return list(conv.turns) if conv else []

    def state(self, conversation_id: str, now_ns: int) -> dict:
        """Mutable per-conversation extras; created with the conversation."""
        return self._touch(conversation_id, now_ns).state

    def add(self, conversation_id: str, turn: T, now_ns: int) -> None:
        """Record a finished turn (after it was classified, so it is context for the next one)."""
        conv = self._touch(conversation_id, now_ns)
        if self.max_turns > 0:
            conv.turns.append(turn)

    def set_max_turns(self, max_turns: int) -> None:
        """Change N live; existing histories are trimmed to their newest N turns."""
        if max_turns < 0:
            raise ValueError(f"max_turns must be >= 0, got {max_turns}")
        self.max_turns = max_turns
        for conv in self._conversations.values():
            conv.turns = deque(list(conv.turns)[-max_turns:] if max_turns else [], maxlen=max_turns)

    def expire(self, now_ns: int) -> int:
        """Forget conversations idle for longer than the timeout; returns how many."""
        stale = [
            cid for cid, c in self._conversations.items() if now_ns - c.last_active_ns > self.idle_timeout_ns
        ]
        for cid in stale:
            del self._conversations[cid]
        return len(stale)

    def reset(self, conversation_id: str | None = None) -> int:
        """Clear one conversation, or all when None; returns how many were cleared."""
        if conversation_id is None:
            n = len(self._conversations)
            self._conversations.clear()
            return n
        return 1 if self._conversations.pop(conversation_id, None) is not None else 0

    def _touch(self, conversation_id: str, now_ns: int) -> _Conversation[T]:
        self.expire(now_ns)
        conv = self._conversations.get(conversation_id)
        if conv is None:
            conv = _Conversation(turns=deque(maxlen=self.max_turns), last_active_ns=now_ns)
            self._conversations[conversation_id] = conv
            while len(self._conversations) > self.max_conversations:
                self._conversations.popitem(last=False)
        else:
            conv.last_active_ns = now_ns
            self._conversations.move_to_end(conversation_id)
        return conv
