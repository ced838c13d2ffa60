"""The activity-mark table: per connection, the times at which each side started sending again.

A mark is a packet with payload from one side after that side was idle longer than the flow
tracker's mark gap (the side's first payload is one too); see netdetect/flows.py for the rules and
bounds. Rows link to connection rows by `uid` (CONN_DTYPE's last column). Heartbeats inside one
long connection show here when nothing else in the tables does.
"""

from __future__ import annotations

import numpy as np

# Marks kept per connection, the latest (~1 h of a 1 s heartbeat); older ones are shed and counted.
# Both flow engines hold this bound (netdetect/_flows.c has it as MAX_MARKS_PER_CONN too).
MAX_MARKS_PER_CONN = 4096

MARK_DTYPE = np.dtype(
    [
        ("uid", "u8"),  # the connection's CONN_DTYPE uid
        ("ts", "f8"),  # epoch seconds
        ("from_server", "?"),  # sent by the server (else by the client)
    ]
)


def sort_marks(marks: np.ndarray) -> np.ndarray:
    """MARK_DTYPE rows by connection, then time (a total order: equal times by their bits, then side),
    so the table does not depend on the order connections closed in."""
    marks = np.ascontiguousarray(marks, MARK_DTYPE)
    if len(marks) < 2:
        return marks
    ts = marks["ts"]
    return marks[np.lexsort((marks["from_server"], ts.view(np.uint64), ts, marks["uid"]))]


def marks_of(marks: np.ndarray, uids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For sorted `marks` and connection ids `uids`: (start, end) row ranges of each id's marks."""
    keys = marks["uid"]
    return np.searchsorted(keys, uids, "left"), np.searchsorted(keys, uids, "right")
