"""SQL by what it serves, one module per resource: mostly reads, plus the small state
changes of a resource's lifecycle (a flag's status, a token's revocation)."""
