"""What a notice is and which events cause one: pure, no I/O."""
