"""Third-party OCPI implementations used as test peers (each runs in its own environment)."""
