"""The rules: relay, routing, accounts, usage, health, administration. No web framework here."""
