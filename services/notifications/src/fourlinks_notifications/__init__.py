"""Four Links notifications: members, secretaries and residents told of what concerns them."""
