"""Gray rollout off One API / New API: legacy channel, batches, balance hand-over, guard, report."""
