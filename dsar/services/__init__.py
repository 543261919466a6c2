"""Use cases. Each takes plain values and an Actor, never the web request, and does not commit."""
