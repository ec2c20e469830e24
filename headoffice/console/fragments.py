"""The dashboard's figures as rendered HTML, kept in memory per (snapshot build, scope, period).

Why: the figures of one snapshot build never change, and the same tables and SVG charts are laid out for every
person who opens them; laying them out (about a thousand escaped cells and four charts) was most of a dashboard
request's CPU. The rest of the page (who is logged in, the CSRF token) is rendered per request as before. A new
build is a new key, so nothing stale is ever served; the oldest entries go beyond `size`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from markupsafe import Markup

DEFAULT_SIZE = 64  # scopes x periods kept: the chain and a few dozen stores' preset periods


class Fragments:
    """A small least-recently-used map of rendered fragments (one per console, shared by its requests)."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._items: OrderedDict[Hashable, Markup] = OrderedDict()

    def get(self, key: Hashable) -> Markup | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: Hashable, html: Markup) -> Markup:
        with self._lock:
            self._items[key] = html
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return html

    def get_or_render(self, key: Hashable, render: Callable[[], Markup | None]) -> Markup | None:
        """The fragment for `key`, rendering (outside the lock) and keeping it on a miss; None: nothing to show."""
        found = self.get(key)
        if found is not None:
            return found
        html = render()
        return None if html is None else self.put(key, html)
