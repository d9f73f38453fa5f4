"""alignuser.personas."""
