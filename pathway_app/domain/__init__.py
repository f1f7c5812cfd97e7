"""Clinical rules and calculations: plain Python, no Qt, no SQL, no clock."""
