"""Moving a running One API or New API onto relaygate: inventory, plan, import and verification."""
