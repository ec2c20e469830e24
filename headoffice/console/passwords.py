"""Password hashing with scrypt (hashlib; argon2 is not installed): slow on purpose, salted, compared in constant
time. The parameters travel inside each hash, so raising them later still verifies the old ones."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

N, R, P = 2 ** 15, 8, 1  # 32 MiB and ~0.1 s per guess: OWASP's scrypt floor is N=2^17/r=8 or 2^15 with more p
DKLEN = 32
MIN_LENGTH = 12
MAX_LENGTH = 1024  # a megabyte "password" would only be a way to burn the server's CPU


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=DKLEN, maxmem=128 * n * r * p + 2 ** 20)


def check_strength(password: str) -> None:
    """ValueError with what to change when a new password is too weak or too long."""
    if len(password) < MIN_LENGTH:
        raise ValueError(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise ValueError(f"a password has at most {MAX_LENGTH} characters")
    if len(set(password)) < 5:
        raise ValueError("that password repeats too few characters")


def hash_password(password: str) -> str:
    """`scrypt$N$r$p$salt$hash`, all a later check needs."""
    check_strength(password)
    salt = secrets.token_bytes(16)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(_derive(password, salt, N, R, P))}"


def verify(password: str, stored: str | None) -> bool:
    """True when `password` matches `stored`; an absent or malformed hash costs the same time and is False."""
    try:
        scheme, n, r, p, salt, digest = (stored or "").split("$")
        if scheme != "scrypt" or len(password) > MAX_LENGTH:
            raise ValueError(scheme)
        expected = base64.b64decode(digest)
        got = _derive(password, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        _derive(password[:MAX_LENGTH], b"\0" * 16, N, R, P)  # an unknown user takes as long as a wrong password
        return False
    return hmac.compare_digest(got, expected)
