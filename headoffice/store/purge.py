"""Remove payment card numbers that older versions let in as loyalty cards, once per database.

Same rule as the till's migration m0050 (`cardread.payment.payment_card_in`): the member stays, the card
row and its change-feed row (whose key is the number) go. The count is kept in `meta` under
`payment_cards_removed` (never the numbers) and logged.
"""

from __future__ import annotations

import logging

from cardread.payment import payment_card_in
from headoffice.store.db import Db

log = logging.getLogger(__name__)

DONE_KEY = "payment_cards_purged_v1"


def purge_payment_cards(db: Db) -> int:
    """Run the purge if this database has not had it; how many card numbers were removed (0 when done before).
    Call inside a write transaction."""
    if db.one("SELECT 1 FROM meta WHERE key = ?", (DONE_KEY,)) is not None:
        return 0
    numbers = [r[0] for r in db.execute("SELECT card_number FROM cards") if payment_card_in(str(r[0]))]
    for number in numbers:
        db.execute("DELETE FROM feed WHERE entity = 'card' AND key = ?", (number,))
        db.execute("UPDATE cards SET replaced_by = NULL WHERE replaced_by = ?", (number,))
        db.execute("DELETE FROM cards WHERE card_number = ?", (number,))
    db.execute("INSERT INTO meta (key, value) VALUES (?, 1)", (DONE_KEY,))
    db.execute("INSERT INTO meta (key, value) VALUES ('payment_cards_removed', ?) ON CONFLICT (key) DO UPDATE"
               " SET value = excluded.value", (len(numbers),))
    if numbers:
        log.warning("removed %d stored card numbers that look like payment cards (members kept)", len(numbers))
    return len(numbers)
