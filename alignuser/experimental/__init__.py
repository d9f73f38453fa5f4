"""alignuser.experimental."""
