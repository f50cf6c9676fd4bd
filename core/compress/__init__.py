"""Sub-model generation by the paper's three techniques: depth level, parameter level and bit level (Fig. 1)."""
