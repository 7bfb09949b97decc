"""``trialwire up``: the whole platform on one machine with simulated homes (the demo)."""
