"""Checks an envelope passes before its readings are stored: enrollment and plausibility."""
