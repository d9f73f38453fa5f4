"""alignuser.policy."""
