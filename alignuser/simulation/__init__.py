"""alignuser.simulation."""
