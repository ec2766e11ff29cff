"""Emulators of external systems, used only by tests (the product never imports them)."""
