"""Partners: the organisations of the partnership."""
