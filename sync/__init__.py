"""Sync protocol shared by till and head office, and the till-side sync worker."""
