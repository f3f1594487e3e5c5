"""Council tax: the single person discount review (docs/counciltax.md)."""
