"""Request bodies of the app's API: a JSON object, or a multipart form with one image file.

Both are read only after the caller checked ``Content-Length`` against its limit;
anything malformed is a one-line :class:`DreamliftError` (a 400).
"""

from __future__ import annotations

import email.parser
import email.policy
from dataclasses import dataclass
from typing import Any

from dreamlift.errors import DreamliftError


@dataclass
class Upload:
    """A file field of a form."""

    filename: str
    data: bytes


def parse_json(body: bytes) -> dict[str, Any]:
    """The request's JSON object, read within :mod:`dreamlift._limits` (64 levels, 100,000 values: a body of 64 KiB of
    ``[`` is a 400, not a RecursionError)."""
    from dreamlift._limits import parse_json as parse_limited

    try:
        value = parse_limited(body.decode("utf-8"), "the request body")
    except (UnicodeDecodeError, ValueError):
        raise DreamliftError("the request body is not valid JSON: send an object such as {\"prompt\": \"a red cube\"}") from None
    if not isinstance(value, dict):
        raise DreamliftError("the request body must be a JSON object, e.g. {\"prompt\": \"a red cube\"}")
    return value


def parse_multipart(content_type: str, body: bytes, file_field: str = "image") -> tuple[dict[str, str], Upload | None]:
    """The text fields of a ``multipart/form-data`` body and its ``file_field`` file (None when absent or empty)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", errors="replace")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart() or message.get_content_type() != "multipart/form-data":
        raise DreamliftError("the form could not be read: send multipart/form-data with a boundary")
    fields: dict[str, str] = {}
    upload = None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            raise DreamliftError("the form has a part without a field name")
        data = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            if name != file_field:
                raise DreamliftError(f"unexpected file field {name!r}: upload the image as {file_field!r}")
            if data:
                upload = Upload(filename=filename, data=data)
            continue
        if name in fields:
            raise DreamliftError(f"the form has the field {name!r} twice")
        try:
            fields[name] = data.decode("utf-8")
        except UnicodeDecodeError:
            raise DreamliftError(f"the form field {name!r} is not UTF-8 text") from None
    return fields, upload
