"""alignuser.evaluation."""
