"""Turning what a reader delivers into a loyalty card number, or a clear refusal."""

from pos_client.cards.read import CardRead, Source
from pos_client.cards.router import parse_card, route_scan

__all__ = ["CardRead", "Source", "parse_card", "route_scan"]
