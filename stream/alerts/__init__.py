"""Alert delivery: every stored flag goes to the study's matching channels (signed
webhooks, e-mail), at least once with one idempotency key per flag and channel, retried
with backoff and dead-lettered after the last try; each attempt is in the delivery log."""
