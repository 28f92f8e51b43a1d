"""Wire formats of each dialect and pure (sans-I/O) parsing and translation; no I/O here."""
