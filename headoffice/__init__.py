"""The head-office server."""
