"""Rewards and relationship marketing at the till: tiers, expiry, rewards, coupons, lifecycle,
offers, reports, privacy. Logic over the till's SQLite store; nothing heavy is imported here.

Nothing registers itself: `wiring.install(extensions)` is called by the composition root
(`pos_client.till.open_till`) to put marketing's sale and refund observers and receipt blocks in
that till's own lists.
"""
