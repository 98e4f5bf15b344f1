"""Part of ember.nn.functional (re-exported there)."""

from __future__ import annotations

__all__: list[str] = []
