"""The till-side loyalty client: domain logic over SQLite, a CLI and a Textual app."""

__version__ = "0.1.0"
