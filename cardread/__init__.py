"""Turning what a reader delivers into a loyalty card number, or a clear refusal."""

from cardread.read import CardRead, CardRefused, Source
from cardread.router import parse_card, route_scan

__all__ = ["CardRead", "CardRefused", "Source", "parse_card", "route_scan"]
