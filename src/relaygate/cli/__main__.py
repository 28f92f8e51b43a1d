"""`python -m relaygate.cli`."""

from relaygate.cli.main import main

main()
