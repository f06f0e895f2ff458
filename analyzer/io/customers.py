"""The customers CSV: customer_id,name,domains,networks,contact_email (a header line, one row
per customer; lines starting with ``#`` are comments)."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from analyzer.customers import CUSTOMER_COLUMNS, check_customers
from analyzer.errors import ConfigError, InputError


def empty_customers() -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype="string") for column in CUSTOMER_COLUMNS})


def read_customers(path: Path | None) -> pd.DataFrame:
    """Read and check the customers file; no file configured means no customers."""
    if path is None:
        return empty_customers()
    try:
        text = path.read_text(encoding="utf-8-sig")
        # Whole-line comments only: a '#' inside a name is data.
        rows = "".join(
            line for line in text.splitlines(keepends=True) if not line.lstrip().startswith("#")
        )
        table = pd.read_csv(
            io.StringIO(rows), dtype=str, keep_default_na=False, skipinitialspace=True
        )
    except FileNotFoundError:
        raise InputError(f"customers file not found: {path}") from None
    except IsADirectoryError:
        raise InputError(f"customers file {path} is a folder") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"cannot read customers file {path}: {exc}") from None
    try:
        return check_customers(table)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
