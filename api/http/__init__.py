"""HTTP helpers the namespaces call.

Conditional requests, content negotiation, pagination (with its keyset cursors
and page counts), ``_links`` and the responses built by hand.
"""
