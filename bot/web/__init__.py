"""The web chat widget's server-side logic (no web framework here: the channel serves it)."""
