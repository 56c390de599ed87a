"""FirstRing: calls every web lead back within seconds."""
