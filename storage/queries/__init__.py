"""Read-side SQL, one module per resource."""
