"""Who may call what: bearer tokens and per-route role checks."""
