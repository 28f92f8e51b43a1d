"""Leaf layer: errors, keys, money, ids, clock, redaction, settings, task supervision."""
