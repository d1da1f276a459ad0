"""Several Rasa instances as one product: what they share on Redis, and `make cluster`."""
