"""The baseline: a bare Flask route returning a 5-field dict as JSON.

Every figure of the benchmark is a ratio to this app, measured in the same run
on the same machine, so the numbers say what the API's features cost rather
than how fast this particular machine is.
"""

from flask import Flask

app = Flask(__name__)

PRODUCT = {"id": 1, "sku": "MUG-001", "name": "Enamel mug", "price_cents": 1299, "stock": 40}


@app.get("/")
def product():
    """The same small object on every request; Flask serialises it to JSON."""
    return PRODUCT
