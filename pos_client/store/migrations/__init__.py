"""Schema migrations, one module each (`mNNNN_name.py` with `apply(db)`), applied in name order.

Number ranges keep capabilities apart: 0001-0099 till core, 0100-0199 devices,
0200-0299 sync, 0300-0399 rewards and marketing, 0400-0499 the day's upkeep and offer holdouts.
"""
