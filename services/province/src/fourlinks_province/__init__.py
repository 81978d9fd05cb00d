"""The province service: follows the figures every district sends up and answers their sums."""
