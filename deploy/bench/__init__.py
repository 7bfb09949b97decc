"""Benchmarks run by ``trialwire bench ...``; each prints figures, none asserts on time."""
