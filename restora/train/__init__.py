"""Training: datasets of degraded pairs generated on the fly, losses, loops, export with cards."""
