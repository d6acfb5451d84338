"""CSV import of contacts: streamed, batched, all-or-nothing for the file, a report per row.

The upload is read line by line through a text wrapper (`utf-8-sig`, so a BOM is dropped) and
rows are written in batches of `BATCH_SIZE` (one `executemany` INSERT each: the ORM's
`bulk_create` spent more time compiling SQL than the database spent storing rows); what
stays in memory is one
batch, the set of numbers already seen in the file (for duplicates) and the first
`MAX_REPORTED_REJECTIONS` rejections. The delimiter is the most frequent of `, ; TAB |` in the
header line, which may hold at most `CONTACT_IMPORT_MAX_HEADER_CHARS` characters and
`CONTACT_IMPORT_MAX_COLUMNS` columns.

Two phases. The file is parsed and validated first with no transaction open (rows that pass
are spooled in batches to a temporary file); a file-level error (not UTF-8, no phone column, a
broken quote) ends the import there, having written nothing. Only then does one short
transaction lock the list row, check the spooled rows against the list and the do-not-call
list and insert them, so two imports into the same list take turns. Parsing inside the
transaction held SQLite's write lock (`IMMEDIATE` transactions) for as long as a file took to
read, and every other tenant's writes failed with "database is locked" meanwhile.
"""

from __future__ import annotations

import csv
import io
import json
import pickle
import re
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from campaigns.contact_fields import (
    ContactValues,
    Rejection,
    RejectReason,
    is_variable_name,
    normalize_contact,
)
from campaigns.models import Contact, ContactList, DoNotCallEntry

BATCH_SIZE = 1000
PREVIEW_ROWS = 5
MAX_REPORTED_REJECTIONS = 1000
DELIMITERS = (",", ";", "\t", "|")
# Validated rows stay in memory up to this size, then spill to a temporary file.
SPOOL_MEMORY_BYTES = 8 * 1024 * 1024

# API name → model field, for the `mapping` parameter and the report.
IMPORT_FIELDS = {
    "phoneNumber": "phone_number",
    "firstName": "first_name",
    "lastName": "last_name",
    "company": "company",
    "email": "email",
    "timeZone": "time_zone",
    "region": "region",
    "consentSource": "consent_source",
    "consentAt": "consent_at",
}
# Header spellings recognised without a mapping (compared lowercase, letters and digits only).
HEADER_SYNONYMS = {
    "phone_number": {
        "phone", "phonenumber", "phoneno", "mobile", "mobilephone", "mobilenumber", "cell",
        "cellphone", "telephone", "tel", "number", "msisdn",
    },
    "first_name": {"firstname", "first", "givenname", "forename", "fname"},
    "last_name": {"lastname", "last", "surname", "familyname", "lname"},
    "company": {"company", "companyname", "organization", "organisation", "business", "employer"},
    "email": {"email", "emailaddress", "mail"},
    "time_zone": {"timezone", "tz", "zone"},
    "region": {"state", "region", "province"},
    "consent_source": {"consentsource", "consent"},
    "consent_at": {"consentat", "consentdate", "consenttime", "consentedat", "optinat"},
}  # fmt: skip


@dataclass
class ImportReport:
    dry_run: bool
    delimiter: str = ","
    columns: dict[str, str] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    rows_read: int = 0
    imported: int = 0
    rejected: int = 0
    rejected_by_reason: Counter[str] = field(default_factory=Counter)
    rejections: list[dict[str, Any]] = field(default_factory=list)
    preview: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, row: int, rejection: Rejection) -> None:
        self.rejected += 1
        self.rejected_by_reason[rejection.reason.value] += 1
        if len(self.rejections) < MAX_REPORTED_REJECTIONS:
            self.rejections.append(
                {
                    "row": row,
                    "reason": rejection.reason.value,
                    "field": rejection.field,
                    "message": rejection.message,
                }
            )

    def as_dict(self) -> dict[str, Any]:
        """The wire shape (camelCase; `columns` maps API field names to CSV headers)."""
        api_names = {model: api for api, model in IMPORT_FIELDS.items()}
        return {
            "dryRun": self.dry_run,
            "delimiter": self.delimiter,
            "columns": {api_names[name]: header for name, header in self.columns.items()},
            "variables": dict(self.variables),
            "rowsRead": self.rows_read,
            "imported": self.imported,
            "rejected": self.rejected,
            "rejectedByReason": dict(sorted(self.rejected_by_reason.items())),
            "rejections": self.rejections,
            "rejectionsTruncated": self.rejected > len(self.rejections),
            "preview": self.preview,
        }


def _file_error(message: str) -> ValidationError:
    return ValidationError({"file": [message]})


def _squash(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", header.lower())


def _variable_name(header: str) -> str:
    name = re.sub(r"[^a-z0-9]+", "_", header.strip().lower()).strip("_")
    if name and not name[0].isalpha():
        name = f"v_{name}"
    return name[:64]


def parse_mapping(raw: str | Mapping[str, Any] | None) -> dict[str, str]:
    """The `mapping` parameter: {"phoneNumber": "Mobile", ...} as JSON text or a mapping."""
    if raw in (None, ""):
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except (json.JSONDecodeError, RecursionError) as exc:  # RecursionError: 1000s of "["
            raise ValidationError({"mapping": ["Not valid JSON."]}) from exc
    if not isinstance(raw, Mapping):
        raise ValidationError(
            {"mapping": ['Expected an object such as {"phoneNumber": "Mobile"}.']}
        )
    mapping: dict[str, str] = {}
    errors = []
    for key, value in raw.items():
        if key not in IMPORT_FIELDS:
            errors.append(f"Unknown field '{key}'; use one of {', '.join(IMPORT_FIELDS)}.")
        elif not isinstance(value, str) or not value.strip():
            errors.append(f"'{key}' must name a column of the file.")
        else:
            mapping[IMPORT_FIELDS[key]] = value.strip()
    if errors:
        raise ValidationError({"mapping": errors})
    return mapping


def _sniff_delimiter(header_line: str) -> str:
    counts = {delimiter: header_line.count(delimiter) for delimiter in DELIMITERS}
    best = max(DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def _resolve_columns(
    header: list[str], mapping: Mapping[str, str], *, detect: bool = True
) -> tuple[dict[str, int], dict[str, int]]:
    """(model field → column index, variable name → column index). Without `detect` only the
    mapping names columns (the admin's edited mapping: a field left unused stays unused)."""
    positions = {name: index for index, name in enumerate(header)}
    if len(positions) != len(header):
        # Counted once: `header.count(name)` per name was quadratic (53 s for 350 000 columns).
        repeated = sorted(name for name, count in Counter(header).items() if count > 1)
        raise _file_error(f"The header repeats column(s): {', '.join(repeated)}.")
    columns: dict[str, int] = {}
    for model_field, column in mapping.items():
        if column not in positions:
            raise ValidationError(
                {"mapping": [f"The file has no column '{column}' (columns: {', '.join(header)})."]}
            )
        columns[model_field] = positions[column]
    used = set(columns.values())
    squashed = [_squash(name) for name in header]
    for model_field, synonyms in HEADER_SYNONYMS.items():
        if model_field in columns or not detect:
            continue
        for index, name in enumerate(squashed):
            if index not in used and name in synonyms:
                columns[model_field] = index
                used.add(index)
                break
    if "phone_number" not in columns:
        raise _file_error(
            'No phone number column: name one in mapping (e.g. {"phoneNumber": "Mobile"}) '
            "or use a header such as 'phone'."
        )
    variables: dict[str, int] = {}
    for index, name in enumerate(header):
        if index in used:
            continue
        variable = _variable_name(name)
        if not variable or not is_variable_name(variable):
            continue
        while variable in variables:
            variable = f"{variable}_{index}"
        variables[variable] = index
    return columns, variables


def _refuse_nul(line: str, number: int) -> str:
    # PostgreSQL text cannot hold NUL (the INSERT failed with a 500), and a NUL in a CSV means
    # a UTF-16 or binary file anyway: refuse it like the JSON API refuses "\u0000" in a field.
    if "\x00" in line:
        raise _file_error(
            f"Line {number}: null characters are not allowed; save the file as UTF-8 text."
        )
    return line


def _nul_free(lines: IO[str]) -> Iterator[str]:
    for number, line in enumerate(lines, start=2):
        yield _refuse_nul(line, number)


def _rows(text: IO[str], delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(line number of the row's first line in the file, cells); the header is line 1."""
    reader = csv.reader(_nul_free(text), delimiter=delimiter, strict=True)
    start = 2
    try:
        for cells in reader:
            yield start, cells
            start = reader.line_num + 2
    except csv.Error as exc:
        raise _file_error(f"Line {start}: {exc}.") from exc
    except UnicodeDecodeError as exc:
        raise _file_error("The file is not UTF-8 text.") from exc


@dataclass
class _Pending:
    row: int
    values: ContactValues


class _ParsedRows:
    """The rows that passed validation, in batches of `BATCH_SIZE`, waiting for the write
    phase: a rejection for a number seen earlier in the file is decided here, the checks
    against the database in `_write_rows`."""

    def __init__(self, report: ImportReport) -> None:
        self.report = report
        self.batch: list[_Pending] = []
        self.seen: set[str] = set()
        # Pickle is safe here: the only reader is this object, of what it wrote itself.
        self.spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115

    def add(self, row: int, values: ContactValues) -> None:
        if values.phone_number in self.seen:
            self.report.reject(
                row,
                Rejection(
                    RejectReason.DUPLICATE,
                    "phone_number",
                    "The number appears earlier in the file.",
                ),
            )
            return
        self.seen.add(values.phone_number)
        self.batch.append(_Pending(row, values))
        if len(self.batch) >= BATCH_SIZE:
            self._spill()

    def _spill(self) -> None:
        pickle.dump(self.batch, self.spool, protocol=pickle.HIGHEST_PROTOCOL)
        self.batch = []

    def batches(self) -> Iterator[list[_Pending]]:
        if self.batch:
            self._spill()
        self.seen = set()
        self.spool.seek(0)
        while True:
            try:
                yield pickle.load(self.spool)  # noqa: S301 (written by `_spill` above)
            except EOFError:
                return

    def close(self) -> None:
        self.spool.close()


def _accept(
    contact_list: ContactList, batch: list[_Pending], report: ImportReport
) -> list[_Pending]:
    """The rows of `batch` that are neither in the list already nor on the do-not-call list."""
    numbers = [pending.values.phone_number for pending in batch]
    existing = set(
        Contact.objects.filter(contact_list=contact_list, phone_number__in=numbers).values_list(
            "phone_number", flat=True
        )
    )
    listed = set(
        DoNotCallEntry.objects.filter(
            organization_id=contact_list.organization_id, phone_number__in=numbers
        ).values_list("phone_number", flat=True)
    )
    accepted: list[_Pending] = []
    for pending in batch:
        number = pending.values.phone_number
        if number in existing:
            report.reject(
                pending.row,
                Rejection(
                    RejectReason.DUPLICATE, "phone_number", "The number is already in the list."
                ),
            )
        elif number in listed:
            report.reject(
                pending.row,
                Rejection(
                    RejectReason.DO_NOT_CALL,
                    "phone_number",
                    "The number is on the do-not-call list.",
                ),
            )
        else:
            accepted.append(pending)
    return accepted


class _ContactWriter:
    """Plain INSERTs of contact rows, values prepared by the model's own fields (so every
    backend gets what the ORM would send), without building a model instance per row."""

    def __init__(self, contact_list: ContactList, now: datetime) -> None:
        self.contact_list = contact_list
        self.now = now
        self.fields = [f for f in Contact._meta.concrete_fields if not f.primary_key]
        quote = connection.ops.quote_name
        columns = ", ".join(quote(str(field.column)) for field in self.fields)
        placeholders = ", ".join(["%s"] * len(self.fields))
        # Table and column names come from the model (quoted); every value is a parameter.
        self.sql = (
            f"INSERT INTO {quote(Contact._meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608
        )

    def insert(self, rows: list[ContactValues]) -> None:
        if not rows:
            return
        constant = {
            "organization": self.contact_list.organization_id,
            "contact_list": self.contact_list.pk,
            "created_at": self.now,
        }
        params = []
        for values in rows:
            row = []
            for model_field in self.fields:
                value = (
                    constant[model_field.name]
                    if model_field.name in constant
                    else getattr(values, model_field.name)
                )
                row.append(model_field.get_db_prep_save(value, connection))
            params.append(row)
        with connection.cursor() as cursor:
            cursor.executemany(self.sql, params)


def _preview(pending: _Pending) -> dict[str, Any]:
    values = pending.values
    return {
        "row": pending.row,
        "phoneNumber": values.phone_number,
        "firstName": values.first_name,
        "lastName": values.last_name,
        "company": values.company,
        "email": values.email,
        "timeZone": values.time_zone,
        "timeZoneSource": values.time_zone_source,
        "region": values.region,
        "consentSource": values.consent_source,
        "consentAt": values.consent_at.isoformat() if values.consent_at else None,
        "variables": values.variables,
    }


def contacts_import(
    *,
    contact_list: ContactList,
    upload: IO[bytes],
    mapping: Mapping[str, str] | None = None,
    dry_run: bool = False,
    detect: bool = True,
    now: datetime | None = None,
) -> ImportReport:
    """Import a CSV (bytes) into `contact_list`; with `dry_run` validate and report only.
    `detect` False: columns not named in `mapping` are not recognised by their header."""
    moment = now or timezone.now()
    report = ImportReport(dry_run=dry_run)
    text = io.TextIOWrapper(upload, encoding="utf-8-sig", newline="")
    parsed = _ParsedRows(report)
    try:
        try:
            # No transaction is open while the file is read (see the module's docstring).
            variables = _parse_file(text, mapping or {}, report, parsed, moment, detect=detect)
        finally:
            # Leave the upload open for its owner (Django closes uploaded files itself).
            text.detach()
        if dry_run:
            _write_rows(contact_list, parsed, variables, report, moment)
        else:
            with transaction.atomic():
                locked = ContactList.objects.select_for_update().get(pk=contact_list.pk)
                _write_rows(locked, parsed, variables, report, moment)
    finally:
        parsed.close()
    # The file's own rejections were found before the database's: report them in file order.
    report.rejections.sort(key=lambda rejection: rejection["row"])
    return report


def csv_header(upload: IO[bytes]) -> list[str]:
    """The file's column names, with the import's own checks (UTF-8, size, column count):
    what the admin's mapping step offers. Leaves `upload` open, at an unspecified position."""
    text = io.TextIOWrapper(upload, encoding="utf-8-sig", newline="")
    try:
        return _read_header(text, ImportReport(dry_run=True))
    finally:
        text.detach()


def _read_header(text: IO[str], report: ImportReport) -> list[str]:
    limit = settings.CONTACT_IMPORT_MAX_HEADER_CHARS
    try:
        # Bounded read: the header's size is checked before any work that grows with it.
        header_line = text.readline(limit + 1)
    except UnicodeDecodeError as exc:
        raise _file_error("The file is not UTF-8 text.") from exc
    if len(header_line) > limit:
        raise _file_error(
            f"The header line is longer than {limit} characters; "
            f"a file may have at most {settings.CONTACT_IMPORT_MAX_COLUMNS} columns."
        )
    if not header_line.strip():
        raise _file_error("The file is empty: the first line must name the columns.")
    _refuse_nul(header_line, 1)
    report.delimiter = _sniff_delimiter(header_line)
    header = [cell.strip() for cell in next(csv.reader([header_line], delimiter=report.delimiter))]
    if len(header) > settings.CONTACT_IMPORT_MAX_COLUMNS:
        raise _file_error(
            f"The header has {len(header)} columns; "
            f"a file may have at most {settings.CONTACT_IMPORT_MAX_COLUMNS}."
        )
    return header


def _parse_file(
    text: IO[str],
    mapping: Mapping[str, str],
    report: ImportReport,
    parsed: _ParsedRows,
    now: datetime,
    *,
    detect: bool = True,
) -> dict[str, int]:
    """Read and validate every row into `parsed`; the variable columns (name → index)."""
    header = _read_header(text, report)
    columns, variables = _resolve_columns(header, mapping, detect=detect)
    report.columns = {name: header[index] for name, index in columns.items()}
    report.variables = {name: header[index] for name, index in variables.items()}

    for line, cells in _rows(text, report.delimiter):
        if not any(cell.strip() for cell in cells):
            continue  # blank lines (a trailing newline, a spacer row) are not rows
        report.rows_read += 1
        if len(cells) > len(header):
            report.reject(
                line,
                Rejection(
                    RejectReason.MALFORMED_ROW,
                    "",
                    f"The row has {len(cells)} cells; the header has {len(header)}.",
                ),
            )
            continue
        cells = cells + [""] * (len(header) - len(cells))
        result = normalize_contact(
            {name: cells[index] for name, index in columns.items()},
            {name: cells[index] for name, index in variables.items() if cells[index].strip()},
            now=now,
        )
        if isinstance(result, Rejection):
            report.reject(line, result)
        else:
            parsed.add(line, result)
    return variables


def _write_rows(
    contact_list: ContactList,
    parsed: _ParsedRows,
    variables: Mapping[str, int],
    report: ImportReport,
    now: datetime,
) -> None:
    writer = _ContactWriter(contact_list, now)
    for batch in parsed.batches():
        accepted = _accept(contact_list, batch, report)
        for pending in accepted[: max(0, PREVIEW_ROWS - len(report.preview))]:
            report.preview.append(_preview(pending))
        if not report.dry_run:
            writer.insert([pending.values for pending in accepted])
        report.imported += len(accepted)

    if not report.dry_run and report.imported:
        known = set(contact_list.variable_names or [])
        names = sorted(known | set(variables))
        ContactList.objects.filter(pk=contact_list.pk).update(
            contact_count=F("contact_count") + report.imported, variable_names=names
        )
