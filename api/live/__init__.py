"""The live monitoring page's change feed: flag notices from PostgreSQL fanned out to the
page's server-sent-event streams."""
