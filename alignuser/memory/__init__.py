"""alignuser.memory."""
