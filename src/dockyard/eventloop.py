"""What the selector loops (the container monitor, the port proxy) share."""

from __future__ import annotations

import selectors
from typing import Any


def set_interest(sel: selectors.BaseSelector, fileobj: Any, events: int, data: Any) -> None:
    """Register, modify or unregister `fileobj` so that it is watched for exactly `events` (0: not at all)."""
    try:
        key = sel.get_key(fileobj)
    except KeyError:
        if events:
            sel.register(fileobj, events, data)
        return
    if not events:
        sel.unregister(fileobj)
    elif key.events != events:
        sel.modify(fileobj, events, data)
