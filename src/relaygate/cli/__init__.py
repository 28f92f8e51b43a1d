"""The relaygate command line: thin commands over the services; tables for people, --json for scripts."""
