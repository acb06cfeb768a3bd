"""Lazy access to litellm: it is heavy (~3 s, ~170 MB) and must never load at import."""

from __future__ import annotations

import os
from types import ModuleType

__all__ = ["load_litellm"]


def load_litellm() -> ModuleType:
    """Import litellm on first use, with its cost map read from the local copy.

    ``LITELLM_LOCAL_MODEL_COST_MAP`` is set to ``True`` unless the user already set it, so the
    import makes no network request.
    """
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    return litellm
