"""Client-ready notices: migration announcement, per-client emails, FAQ, reply templates, checklist."""
