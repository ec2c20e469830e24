"""A till selling in a loop until killed: `python -m tests.soak.seller HOME CARD FIRST LAST`.

Sale i has the id `soak-<i>` and 100 + i cents. After each commit it prints the id (flushed), so the
test knows which sales were reported committed when it sends SIGKILL. A restarted seller begins at the
first sale not reported: the sale that was perhaps committed but not reported is sent again with the
same id, as a till retries a sale after a crash, and must be recorded once.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cardread import parse_card
from pos_client.services.checkout import Basket, Line, commit_sale
from pos_client.services.members import member_for_card
from pos_client.till import open_till


def main(argv: list[str]) -> int:
    home, card, first, last = Path(argv[0]), argv[1], int(argv[2]), int(argv[3])
    ctx = open_till(home)
    try:
        member = member_for_card(ctx, parse_card(card))
        for i in range(first, last + 1):
            basket = Basket(member_id=member.member_id, card_number=card)
            basket.add(Line.keyed(100 + i))
            commit_sale(ctx, basket, sale_id=f"soak-{i}")
            sys.stdout.write(f"soak-{i}\n")
            sys.stdout.flush()
    finally:
        ctx.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
