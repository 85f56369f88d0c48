"""Shared network blocks: embeddings, conv/residual blocks for 1/2/3-D, attention."""
