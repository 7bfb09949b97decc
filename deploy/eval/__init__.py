"""Whole-pipeline evaluations (``trialwire eval``): virtual homes, gateways and the stream
worker on embedded services, measured against the simulators' own record."""
