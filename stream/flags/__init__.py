"""Anomaly flags: pure rules (``rules/``), their per-study configuration and the engine
that folds stored readings through them in event time."""
