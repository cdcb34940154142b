"""Use cases. ``check_*`` validates input and access; ``do_*`` performs the work."""
