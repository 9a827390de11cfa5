"""When each delivery is due (plan, timing), and getting it out: publisher, sync, daemon."""
