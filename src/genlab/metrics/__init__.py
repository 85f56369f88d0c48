"""Metrics: feature extractors, FID/KID, precision/recall, mode coverage, likelihood."""
