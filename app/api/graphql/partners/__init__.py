"""Partner apps: admin management, what partners read."""
