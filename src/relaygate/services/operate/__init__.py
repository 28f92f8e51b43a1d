"""What operators do: accounts and keys, routing, pricing, balances, statements, usage queries,
alerts, configuration as code, first setup. Each module is named for its subject; the CLI, the
admin API and the console all call these.
"""
