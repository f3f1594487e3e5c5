"""Subject access, rectification and erasure across the partnership's datasets."""
