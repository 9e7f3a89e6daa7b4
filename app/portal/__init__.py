"""The customer self-service portal (blueprint at /portal)."""
