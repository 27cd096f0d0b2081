"""Per-request hooks that ``create_app`` registers.

Request id and logging, metrics, rate limits, security headers, cache control, CORS,
compression and the response cache of public reads.
"""
