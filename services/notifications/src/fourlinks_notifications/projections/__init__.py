"""The read models the notices are worked from."""
