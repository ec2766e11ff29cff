"""Adapters that turn the core's launch and kill decisions into real work."""
