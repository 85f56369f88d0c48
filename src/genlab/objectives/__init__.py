"""Losses as functions: ``loss(model, batch, generator) -> (per-sample loss (B,), logs)``."""
