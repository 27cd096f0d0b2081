"""The catalog import runner: check each line as ``POST /products`` checks a body, apply chunks.

Each line is validated by the very validator that checks a ``POST /products``
body (the compiled JSON Schema of the ``ProductInput`` model, from the app's
Api, looked up by name since ``api`` never imports ``namespaces``), then by the
import's own rule (the first line of a SKU wins). Valid lines go to the
database ``JOB_IMPORT_CHUNK`` records at a time, each chunk one fenced
transaction (``models.catalog_import.commit_chunk``); invalid ones are
reported with their line and column, as a spreadsheet user needs them.
"""

from api.restx.validation import BODY, field_errors, surely_valid
from models.catalog_import import (
    HEADER,
    ImportLine,
    ImportProgress,
    Record,
    cell_count_problem,
    commit_chunk,
    first_lines_by_sku,
    product_body,
    read_records,
)
from models.job import JobStatus, finish_job

# The input model of POST /products and PUT /products/{id}: a line is one such body.
ROW_MODEL = "ProductInput"
MISSING_FILE = (
    "The uploaded file is not in this worker's JOB_FOLDER: the API and every worker must "
    "share that folder (or it was removed)"
)
_COLUMN_ORDER = {column: index for index, column in enumerate(HEADER)}


class LineChecker:
    """Checks lines of one import: the body validator, and the first line of each SKU seen."""

    def __init__(self, validator, first_lines: dict[str, int]):
        self.validator = validator
        # Most lines are fine: a quick check passes them, the validator speaks for the rest.
        self.surely_valid = surely_valid(validator.schema)
        self.first_lines = first_lines

    def check(self, record: Record) -> tuple[dict | None, list[tuple[str | None, str]]]:
        """(a valid line's product, []), or (None, its problems); (None, []) for a blank line."""
        if record.problem is not None:
            return None, [(None, record.problem)]
        if not record.cells:
            return None, []  # a blank line: nothing to import, nothing wrong
        if len(record.cells) != len(HEADER):
            return None, [(None, cell_count_problem(record))]
        body = product_body(record.cells)
        problems = [] if self.surely_valid(body) else self._problems(body)
        sku = body.get("sku")
        if isinstance(sku, str):
            first = self.first_lines.setdefault(sku, record.line)
            if first != record.line:
                problems.append(
                    ("sku", f"repeats line {first}: only the first line of a SKU counts")
                )
        return (None, problems) if problems else (body, [])

    def _problems(self, body: dict) -> list[tuple[str | None, str]]:
        """The validator's messages for ``body``, in the file's column order."""
        problems = [
            (None if path == BODY else path, message)
            for path, message in field_errors(self.validator, body)
        ]
        problems.sort(key=lambda problem: _COLUMN_ORDER.get(problem[0], -1))
        return problems


def run_import(claimed, context) -> None:
    """Import the claimed job's file from where it stopped, chunk by chunk, then finish it."""
    api = context.app.extensions["storefront.api"]
    path = context.folder / claimed.input_file
    if not path.is_file():
        finish_job(claimed.lease, status=JobStatus.FAILED, detail=MISSING_FILE)
        return
    progress = ImportProgress.resumed(claimed)
    checker = LineChecker(
        api.validator_for(api.models[ROW_MODEL]),
        first_lines_by_sku(path, offset=progress.resume_offset),
    )
    chunk_size = context.config["JOB_IMPORT_CHUNK"]
    lines: list[ImportLine] = []
    records = 0
    for record in read_records(path, offset=progress.resume_offset, line=progress.resume_line):
        product, problems = checker.check(record)
        if product is not None:
            lines.append(ImportLine(record.line, product))
        elif problems:
            progress.reject(record.line, problems)
        progress.advance(record)
        records += 1
        if records == chunk_size:
            commit_chunk(lease=claimed.lease, lines=lines, progress=progress)
            lines, records = [], 0
            context.check_stop()
    if records:
        commit_chunk(lease=claimed.lease, lines=lines, progress=progress)
    finish_job(claimed.lease, status=JobStatus.SUCCEEDED, **progress.columns())
