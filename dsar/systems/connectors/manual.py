"""The manual connector (filled in below in this module's later commits)."""
