"""Creating console users, shared by `headoffice user add` and the Users page (no web imports: the CLI uses it)."""

from __future__ import annotations

import re

from headoffice.console import passwords
from headoffice.store.base import Store

ROLES = ("owner", "manager")
_NAME = re.compile(r"[\w.@+-]{2,100}")
_STORE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
LINK_PATH = "/set-password?token="


def check(name: str, role: str, store_id: str | None) -> None:
    """ValueError with what is wrong: the name's shape, the role, a manager without a store, an owner with one."""
    if not _NAME.fullmatch(name):
        raise ValueError("a user name is 2-100 letters, digits or . _ @ + -")
    if role not in ROLES:
        raise ValueError(f"the role is owner or manager, not {role!r}")
    if role == "manager" and not (store_id and _STORE.fullmatch(store_id)):
        raise ValueError("a manager needs --store (their store's id)")
    if role == "owner" and store_id:
        raise ValueError("an owner sees every store: leave out the store")


def add_user(store: Store, name: str, role: str, store_id: str | None, password: str | None = None
             ) -> tuple[str, str | None]:
    """(user id, one-time set-password token or None when a password was given); ValueError when refused."""
    check(name, role, store_id)
    hashed = passwords.hash_password(password) if password is not None else None
    user_id = store.console.add_user(name, role, store_id if role == "manager" else None, hashed)
    return user_id, None if hashed else store.console.password_link(user_id)
