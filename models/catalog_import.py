"""Catalog imports: a CSV file of products, checked on upload and applied in chunks.

The file is UTF-8 (a byte order mark is allowed), its first line the header
``sku,name,description,price_cents,stock``, and every other line one whole
product. A line whose SKU belongs to a live product replaces that product's
fields, as ``PUT /products/{id}`` would; any other line creates a product. So an
import is an upsert by SKU, matching the unique index on live SKUs, and running
the same file again is safe: it updates what the first run created.

The upload is checked at once (size, UTF-8 text, the header) and stored; the
lines are read later by a worker, chunk by chunk, each chunk one transaction
that also records, fenced by the worker's lease, how far the import got. So a
resumed import starts exactly after its last committed chunk, and what the job
reports is what the catalog holds.
"""

import codecs
import copy
import csv
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from models.base import db, transaction, utcnow
from models.errors import ConflictError, DomainError
from models.job import MAX_ERRORS, JobKind, JobView, Lease, create_job, record_progress
from models.job_files import new_import_name, partial_path, publish, remove, resolve
from models.order import fingerprint
from models.product import Product

HEADER = ("sku", "name", "description", "price_cents", "stock")
INTEGER_COLUMNS = frozenset({"price_cents", "stock"})
_INTEGER = re.compile(r"^[+-]?[0-9]{1,30}$")
_BOM = "\ufeff"
# What an upload is read in, and how much of its start holds the header.
_READ_SIZE = 1 << 16
_SHOWN = 80


class ImportFileError(DomainError):
    """The upload is not a catalog CSV file: not UTF-8 text, or not the expected header."""

    def __init__(self, reason: str):
        super().__init__(f"The file is not a catalog CSV: {reason}")


class ImportTooLargeError(DomainError):
    """The upload is over the import size limit."""

    def __init__(self, limit: int):
        super().__init__(f"The file is larger than {limit} bytes (MAX_IMPORT_MB)")


@dataclass(frozen=True)
class SavedImport:
    """A checked upload: its file name under the job folder, its SHA-256, its data lines."""

    name: str
    sha256: str
    lines: int


def save_import(stream, *, folder: Path, max_bytes: int) -> SavedImport:
    """Store an uploaded catalog file under ``folder``, checked, or raise and store nothing.

    Read in pieces, never whole: over ``max_bytes`` is an ``ImportTooLargeError``;
    bytes that are not UTF-8 text, or a first line other than ``HEADER``, an
    ``ImportFileError``. ``lines`` counts the lines after the header: the
    job's progress is measured in them.
    """
    name = new_import_name()
    target = resolve(folder, name)
    partial = partial_path(target)
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    size = newlines = 0
    last = b""
    try:
        with partial.open("wb") as out:
            while chunk := stream.read(_READ_SIZE):
                if size + len(chunk) > max_bytes:
                    raise ImportTooLargeError(max_bytes)
                _check_text(decoder, chunk, size)
                size += len(chunk)
                newlines += chunk.count(b"\n")
                last = chunk[-1:]
                digest.update(chunk)
                out.write(chunk)
            _check_text(decoder, b"", size, final=True)
        header_lines = _check_header(partial)
        publish(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    lines = newlines + (1 if last not in (b"", b"\n") else 0)
    return SavedImport(name=name, sha256=digest.hexdigest(), lines=lines - header_lines)


def start_import(
    *,
    stream,
    folder: Path,
    max_bytes: int,
    user_id: int,
    dry_run: bool,
    idempotency_key: str | None = None,
) -> tuple[JobView, bool]:
    """Store and check an uploaded catalog file, and record its import job.

    Returns (the job, whether it was created now): with an ``idempotency_key``
    already used for the same file, the first request's job, and the new copy
    of the file is discarded (see ``models.job.create_job``).
    """
    saved = save_import(stream, folder=folder, max_bytes=max_bytes)
    try:
        job, created = create_job(
            kind=JobKind.PRODUCT_IMPORT,
            user_id=user_id,
            params={"dry_run": dry_run},
            fingerprint=fingerprint({"file": saved.sha256, "dry_run": dry_run}),
            idempotency_key=idempotency_key,
            input_file=saved.name,
            progress_total=saved.lines,
        )
    except BaseException:
        remove(folder, saved.name)
        raise
    if not created:
        remove(folder, saved.name)
    return job, created


def _check_text(decoder, chunk: bytes, offset: int, *, final: bool = False) -> None:
    """Refuse bytes that are not UTF-8 text (a spreadsheet saved as .xlsx, an image)."""
    if b"\x00" in chunk:
        raise ImportFileError("it holds NUL bytes, so it is not a text file")
    try:
        decoder.decode(chunk, final=final)
    except UnicodeDecodeError as error:
        raise ImportFileError(
            f"byte {offset + error.start + 1} is not UTF-8 text; save the file as CSV UTF-8"
        ) from None


def _check_header(path: Path) -> int:
    """Check the first line of ``path`` is ``HEADER``; return how many lines it took."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
        except csv.Error:
            header = None
        if header is None:
            raise ImportFileError(f"it is empty; its first line must be {','.join(HEADER)}")
        if tuple(header) != HEADER:
            shown = ",".join(header)
            if len(shown) > _SHOWN:
                shown = shown[:_SHOWN] + "…"
            raise ImportFileError(f"its first line must be {','.join(HEADER)}, not {shown}")
        return reader.line_num


@dataclass(frozen=True)
class Record:
    """One record of the file: the line it starts on, its cells (or what is wrong with it),
    and the line and byte offset it ends at (where the next one starts)."""

    line: int
    cells: list[str] | None
    problem: str | None
    end_line: int
    end_offset: int


def read_records(path: Path, *, offset: int = 0, line: int = 0) -> Iterator[Record]:
    """The records of an import file after the header, or after byte ``offset`` (at ``line``).

    ``offset`` and ``line`` come from an earlier ``Record``'s end, so a resumed
    import reads on exactly where the committed part stopped. The file was
    checked on upload: it is UTF-8 and starts with the header.
    """
    with path.open("rb") as handle:
        handle.seek(offset)
        position = [offset]

        def lines() -> Iterator[str]:
            for raw in handle:
                position[0] += len(raw)
                text = raw.decode("utf-8")
                yield text.removeprefix(_BOM) if position[0] == len(raw) else text

        reader = csv.reader(lines())
        if offset == 0:
            next(reader)  # the header
        previous = line + reader.line_num
        while True:
            try:
                cells, problem = next(reader), None
            except StopIteration:
                return
            except csv.Error as error:
                cells, problem = None, f"is not valid CSV ({error})"
            end = line + reader.line_num
            yield Record(previous + 1, cells, problem, end, position[0])
            previous = end


def first_lines_by_sku(path: Path, *, offset: int) -> dict[str, int]:
    """The first line of each SKU in the part of the file before byte ``offset``.

    A resumed import needs them to go on reporting later lines with the same SKU.
    """
    first: dict[str, int] = {}
    if offset == 0:
        return first
    for record in read_records(path):
        if record.end_offset > offset:
            break
        if record.cells and len(record.cells) == len(HEADER) and record.cells[0]:
            first.setdefault(record.cells[0], record.line)
    return first


def product_body(cells: list[str]) -> dict:
    """The ``POST /products`` body a line of cells stands for, before validation.

    An empty cell is an omitted field (so a missing name is "is required", and
    an empty stock is 0, as in a body without it); the integer columns hold
    integers when their text is one, and stay text otherwise, for the validator
    to refuse ("must be of type integer").
    """
    body = {}
    for column, cell in zip(HEADER, cells, strict=True):
        if cell == "":
            continue
        if column in INTEGER_COLUMNS and _INTEGER.match(cell.strip()):
            body[column] = int(cell)
        else:
            body[column] = cell
    return body


def cell_count_problem(record: Record) -> str:
    """What to say of a line with the wrong number of cells."""
    count = len(record.cells)
    message = (
        f"has {count} cell{'s' if count != 1 else ''}; a line needs {len(HEADER)}: "
        + ",".join(HEADER)
    )
    if record.end_line > record.line:
        message += " (is a quote opened and never closed?)"
    return message


@dataclass(frozen=True)
class ImportLine:
    """A valid line: its line number and the product fields it sets."""

    line: int
    product: dict


@dataclass
class ImportProgress:
    """Where an import is: its counts, its reported problems, and where it resumes."""

    dry_run: bool
    created: int = 0
    updated: int = 0
    failed: int = 0
    errors: list[dict] = field(default_factory=list)
    error_count: int = 0
    done: int = 0
    resume_line: int = 0
    resume_offset: int = 0

    @classmethod
    def resumed(cls, claimed) -> "ImportProgress":
        """The progress a claimed job (``models.job.ClaimedJob``) had committed."""
        result = claimed.result or {}
        return cls(
            dry_run=bool(claimed.params.get("dry_run")),
            created=result.get("created", 0),
            updated=result.get("updated", 0),
            failed=result.get("failed", 0),
            errors=list(claimed.errors),
            error_count=claimed.error_count,
            done=max(claimed.resume_line - 1, 0),
            resume_line=claimed.resume_line,
            resume_offset=claimed.resume_offset,
        )

    def reject(self, line: int, problems: list[tuple[str | None, str]]) -> None:
        """Count line ``line`` as failed, for these (field, message) problems."""
        self.failed += 1
        for column, message in problems:
            self.error_count += 1
            if len(self.errors) < MAX_ERRORS:
                self.errors.append({"line": line, "field": column, "message": message})

    def advance(self, record: Record) -> None:
        """Move the resume point past ``record``."""
        self.resume_line = record.end_line
        self.resume_offset = record.end_offset
        self.done = record.end_line - 1

    def result(self) -> dict:
        """The job's ``result``."""
        return {
            "created": self.created,
            "updated": self.updated,
            "failed": self.failed,
            "dry_run": self.dry_run,
        }

    def columns(self) -> dict:
        """The job columns that record this progress."""
        return {
            "result": self.result(),
            "errors": self.errors,
            "error_count": self.error_count,
            "progress_done": self.done,
            "resume_line": self.resume_line,
            "resume_offset": self.resume_offset,
        }


class _ChunkRaceError(ConflictError):
    """A product changed under the chunk (deleted, or its SKU taken) between read and write."""


_SKU_TAKEN = (
    "another product took this SKU while the import ran; import the file again to update it"
)


def commit_chunk(*, lease: Lease, lines: list[ImportLine], progress: ImportProgress) -> None:
    """Apply ``lines`` and record ``progress`` (moved past them) in one fenced transaction.

    ``progress`` already holds the chunk's rejected lines and its end; this adds
    what was created and updated, and writes it all into the job with the
    lease's token: if the job was cancelled or taken over, nothing of the chunk
    is written (``LeaseLostError``). Should the database refuse the chunk (a
    product created or deleted through the API meanwhile), it is rolled back
    alone and applied again line by line, each line in a savepoint, so only the
    lines at fault are reported. ``progress`` changes only once committed.
    """
    attempt = copy.deepcopy(progress)
    try:
        with transaction():
            created, updated = _apply_together(lines, dry_run=attempt.dry_run)
            attempt.created += created
            attempt.updated += updated
            record_progress(lease, **attempt.columns())
    except ConflictError:
        attempt = copy.deepcopy(progress)
        with transaction():
            for line in lines:
                try:
                    outcome = _apply_alone(line.product, dry_run=attempt.dry_run)
                except (IntegrityError, _ChunkRaceError):
                    attempt.reject(line.line, [("sku", _SKU_TAKEN)])
                    continue
                attempt.created += outcome == "created"
                attempt.updated += outcome == "updated"
            record_progress(lease, **attempt.columns())
    progress.__dict__.update(attempt.__dict__)


_PRODUCTS = Product.__table__
_REPLACE = (
    update(_PRODUCTS)
    .where(_PRODUCTS.c.id == bindparam("product_id"), _PRODUCTS.c.deleted_at.is_(None))
    .values(
        name=bindparam("name"),
        description=bindparam("description"),
        price_cents=bindparam("price_cents"),
        stock=bindparam("stock"),
        version=_PRODUCTS.c.version + 1,
        updated_at=bindparam("now"),
    )
)


def _fields(product: dict) -> dict:
    """Every client-owned field, with the defaults a PUT gives to omitted ones."""
    return {"description": "", "stock": 0, **product}


def _live_ids(skus: list[str]) -> dict[str, int]:
    rows = db.session.execute(
        select(Product.sku, Product.id).where(Product.sku.in_(skus), Product.deleted_at.is_(None))
    ).all()
    return dict(rows)


def _apply_together(lines: list[ImportLine], *, dry_run: bool) -> tuple[int, int]:
    """Create and replace the products of ``lines`` with one statement each; (created, updated)."""
    if not lines:
        return 0, 0
    existing = _live_ids([line.product["sku"] for line in lines])
    now = utcnow()
    replaced, added = [], []
    for line in lines:
        product = _fields(line.product)
        product_id = existing.get(product["sku"])
        if product_id is None:
            added.append({**product, "created_at": now, "updated_at": now, "version": 1})
        else:
            replaced.append({**product, "product_id": product_id, "now": now})
    if dry_run:
        return len(added), len(replaced)
    connection = db.session.connection()
    if replaced:
        changed = connection.execute(_REPLACE, [_without_sku(row) for row in replaced]).rowcount
        if changed != len(replaced):  # one was deleted since it was read
            raise _ChunkRaceError("A product of the chunk was deleted meanwhile")
    if added:
        connection.execute(insert(_PRODUCTS), added)
    return len(added), len(replaced)


def _without_sku(row: dict) -> dict:
    # The SKU is how the row was found; replacing it with itself is no change.
    return {key: value for key, value in row.items() if key != "sku"}


def _apply_alone(product: dict, *, dry_run: bool) -> str:
    """Create or replace one product in a savepoint; "created" or "updated"."""
    with db.session.begin_nested():
        product_id = _live_ids([product["sku"]]).get(product["sku"])
        if dry_run:
            return "created" if product_id is None else "updated"
        connection = db.session.connection()
        now = utcnow()
        if product_id is None:
            connection.execute(
                insert(_PRODUCTS),
                [{**_fields(product), "created_at": now, "updated_at": now, "version": 1}],
            )
            return "created"
        row = _without_sku({**_fields(product), "product_id": product_id, "now": now})
        if connection.execute(_REPLACE, row).rowcount != 1:
            raise _ChunkRaceError("The product was deleted meanwhile")
        return "updated"
