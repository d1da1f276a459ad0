"""The security and fault suite: what the product withstands, one file per front.

Each test here reproduces an attack or a fault against the real parts (a running product, the
real database, signed Twilio requests) and was seen failing before its fix. Read the module
docstrings in order for the list of what is protected and how.
"""
