"""Per-request hooks that ``create_app`` registers.

Request id and logging, metrics, rate limits, security headers, CORS and compression.
"""
