"""alignuser.recommenders."""
