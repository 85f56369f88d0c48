"""Adapters: trainable additions that steer or tune a trained network without changing
its weights (``controlnet.py``: ControlNet)."""
