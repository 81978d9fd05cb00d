"""Read models of published events that several services keep for themselves (each in its own
database): the shape of another context's language, not shared state."""
