"""alignuser.training."""
