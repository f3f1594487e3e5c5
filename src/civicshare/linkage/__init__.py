"""Person linkage: the Splink person index, file mode, privacy-preserving linkage, review."""
