"""A till's identity (store id, till id, store name), as `pos-client init` sets it.

Every sale and ledger entry carries the store and till that wrote it, and the per-till sequence
numbers head office deduplicates on are counted per identity: renaming a till that already has
history would mix two tills' records, so it is refused unless the caller forces it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pos_client.domain.errors import RefusedInput, UsageError
from pos_client.store.config import write_config
from pos_client.store.context import TillContext


@dataclass(frozen=True)
class History:
    sales: int
    entries: int

    def __bool__(self) -> bool:
        return bool(self.sales or self.entries)


def own_history(ctx: TillContext) -> History:
    """What this till wrote under its current identity."""
    key = (ctx.store_id, ctx.till_id)
    sales = ctx.conn.execute("SELECT COUNT(*) FROM sales WHERE store_id = ? AND till_id = ?", key).fetchone()[0]
    entries = ctx.conn.execute("SELECT COUNT(*) FROM ledger WHERE store_id = ? AND till_id = ?", key).fetchone()[0]
    return History(int(sales), int(entries))


def set_identity(ctx: TillContext, store_id: str | None, till_id: str | None, store_name: str | None = None,
                 *, force: bool = False) -> tuple[str, str]:
    """Write the identity into config.toml (unchanged parts kept); refuses to rename a till with history."""
    if ctx.home is None:
        raise UsageError("this till has no home directory to write its config.toml in")
    store = (ctx.store_id if store_id is None else store_id).strip()
    till = (ctx.till_id if till_id is None else till_id).strip()
    if not store or not till:
        raise UsageError("--store and --till must not be empty")
    if (store, till) != (ctx.store_id, ctx.till_id) and not force:
        history = own_history(ctx)
        if history:
            raise RefusedInput(
                f"this till already recorded {history.sales} sales and {history.entries} ledger entries as"
                f" {ctx.store_id}/{ctx.till_id}: renaming it {store}/{till} would mix two tills' records."
                " Use a new home for a new till, or --force if this till really changes identity")
    updates: dict[str, str] = {"store_id": store, "till_id": till}
    if store_name:
        updates["store_name"] = store_name
    ctx.config = write_config(ctx.home, updates)
    return store, till
