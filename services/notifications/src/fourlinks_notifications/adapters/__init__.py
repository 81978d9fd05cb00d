"""Channels to the outside world and the HTTP routes."""
