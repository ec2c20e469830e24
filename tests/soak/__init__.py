"""The soak suite (issue 11): the crash, kill and load checks, sized by SOAK_SCALE (small by default)."""
