"""The order export runner: the rows of the CSV order listing, for every matching order.

A row is made exactly as ``GET /orders`` with ``Accept: text/csv`` makes one:
the scalar fields of the ``Order`` model (looked up in the app's Api by name,
since ``api`` never imports ``namespaces``), formatted by its own fields, and
cells that a spreadsheet would take for a formula neutralised.
"""

from collections.abc import Callable

from flask_restx import fields

from api.http.negotiation import csv_cell
from models.order_export import export_orders, stored_filters

ROW_MODEL = "Order"


def row_format(model) -> tuple[list[str], Callable]:
    """The header and the row function of a CSV file of ``model``'s scalar fields."""
    columns = [
        (name, field)
        for name, field in model.items()
        if not isinstance(field, fields.List | fields.Nested)
    ]

    def render(obj) -> list[str]:
        return [csv_cell(field.output(name, obj)) for name, field in columns]

    return [name for name, _ in columns], render


def run_export(claimed, context) -> None:
    """Export the orders matching the claimed job's filters, then finish the job."""
    api = context.app.extensions["storefront.api"]
    header, render = row_format(api.models[ROW_MODEL])
    export_orders(
        lease=claimed.lease,
        user_id=claimed.user_id,
        filters=stored_filters(claimed.params),
        folder=context.folder,
        header=header,
        render=render,
    )
