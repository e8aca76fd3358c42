"""Monitoring: mergeable data profiles, calibrated drift checks and validation against a model's training data."""
