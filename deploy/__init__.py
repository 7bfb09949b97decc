"""Deployment: the ``trialwire`` CLI, embedded local services and production manifests."""
