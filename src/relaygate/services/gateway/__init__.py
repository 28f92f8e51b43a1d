"""The request path: everything one request touches, in the order it touches it.

accounts (who is calling) → gate and limits (rate windows, concurrency, money hold) → catalog
(models, aliases, routes) → relay (pick a channel, attempt, fail over) → streaming and translate
(relay events, change dialect) → billing and balances (price, settle) → usage (the record) →
health and prober (channel cool-down) → alerts (thresholds crossed); clients names the caller
and state holds the in-memory snapshot all of it reads. Nothing here reads the database per
request, and nothing here imports what operators do (services.operate), migration, rollout,
support or notices: the rollout's old-entry route is injected.
"""
