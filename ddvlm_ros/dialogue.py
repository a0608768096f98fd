"""Per-conversation dialogue memory: the last turns of each conversation_id, for the text model's context.

Idle conversations expire and their number is bounded, so a chatty robot's memory stays flat. Each
conversation also keeps a small state dict (e.g. the smoothed distribution), forgotten with it.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


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
