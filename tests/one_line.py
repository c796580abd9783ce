"""Test helper: a call that must fail with a one-line DreamliftError (imported by tests; tests/ is on sys.path under pytest)."""

from __future__ import annotations

import pytest

from dreamlift.errors import DreamliftError


def one_line_error(call, *fragments: str) -> str:
    """Assert ``call()`` raises a DreamliftError of one line holding every fragment; return its message."""
    with pytest.raises(DreamliftError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message
