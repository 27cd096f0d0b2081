"""Request bodies, bounded before anything parses them: their nesting depth, and their size.

``BodyRequest`` is the app's request class, so every reader of a body goes
through it: the JSON body validator, restx's ``ns.payload`` and reqparse, and
werkzeug's form parser.

- JSON nesting: Python's JSON parser and the schema validator both recurse once
  per level, so a body of a few thousand ``[`` overflows the stack (a 500 and a
  huge traceback). ``get_json`` therefore counts the levels first, without
  recursing, and a body deeper than ``MAX_JSON_DEPTH`` is a 400 problem. No
  input model nests more than three levels, so no valid body comes near it.
- Size without ``Content-Length`` (chunked transfer encoding): werkzeug stops
  reading at ``max_content_length`` and hands over what it has, so a body cut
  at the limit would be parsed as if it were whole. ``BoundedStream`` reads one
  byte more than the limit and answers 413 when it gets it.
"""

import json
import re
from itertools import accumulate, repeat
from operator import sub

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream, get_input_stream

from api.errors import ApiProblem

MAX_JSON_DEPTH = 32

# A JSON string, possessively (no backtracking, so linear on any input); an
# unterminated one runs to the end, which the parser will refuse anyway.
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]++")
# Each bracket as a step of the running depth, plus one: 2 opens, 0 closes.
_STEPS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")


def json_depth(data: bytes) -> int:
    """How deep containers nest in the JSON text ``data`` (0 for a scalar), without parsing it.

    Brackets inside strings do not count. The text is decoded as ``json.loads``
    decodes it (UTF-8, -16 or -32, by its first bytes); undecodable text has
    depth 0, since the parser refuses it before nesting into anything.
    """
    try:
        text = data.decode(json.detect_encoding(data), "surrogatepass")
    except (UnicodeDecodeError, LookupError):
        return 0
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    steps = brackets.encode("ascii").translate(_STEPS)
    # The running sum of +1/-1 steps, all in C: a body of a megabyte of
    # brackets costs about what parsing it does.
    return max(accumulate(map(sub, steps, repeat(1))), default=0)


def check_json_depth(data: bytes) -> None:
    """Raise a 400 problem when ``data`` nests deeper than ``MAX_JSON_DEPTH``."""
    if json_depth(data) > MAX_JSON_DEPTH:
        raise ApiProblem(
            400,
            "The request body is nested too deeply",
            errors={"body": [f"nests arrays and objects deeper than {MAX_JSON_DEPTH} levels"]},
        )


class BoundedStream(LimitedStream):
    """A body of unknown length, at most ``limit`` bytes: reading more is a 413.

    werkzeug's ``LimitedStream`` with ``is_max`` stops at the limit without
    looking further, so the tail of an oversized chunked body would be dropped
    silently. This one lets one byte past the limit in, and refuses it.
    """

    def __init__(self, stream, limit: int):
        super().__init__(stream, limit + 1, is_max=True)

    def readinto(self, buffer) -> int:
        """Read like ``LimitedStream``; a 413 once more than ``limit`` bytes arrived."""
        size = super().readinto(buffer)
        if self.is_exhausted:
            raise RequestEntityTooLarge()
        return size


class BodyRequest(Request):
    """Flask's request, with bodies bounded in depth and size however they are framed."""

    _depth_checked = False

    @cached_property
    def stream(self):
        """The body stream: ``BoundedStream`` when the server frames it (chunked), else werkzeug's.

        With a ``Content-Length`` werkzeug refuses a body over the limit before
        reading it, and reads exactly that many bytes; without one (chunked
        transfer encoding, where the server sets ``wsgi.input_terminated``) the
        limit has to be enforced while reading.
        """
        if self.shallow:
            raise RuntimeError("A shallow request does not read its input stream")
        limit = self.max_content_length
        terminated = "wsgi.input_terminated" in self.environ
        if limit is None or self.content_length is not None or not terminated:
            return get_input_stream(self.environ, max_content_length=limit)
        return BoundedStream(self.environ["wsgi.input"], limit)

    def _get_file_stream(self, *args, **kwargs):
        """werkzeug's file for an uploaded part, remembered so a failed parse can close it."""
        file = super()._get_file_stream(*args, **kwargs)
        self.__dict__.setdefault("_part_files", []).append(file)
        return file

    def _load_form_data(self) -> None:
        """Parse the form; when the body turns out too large midway, close the parts' files.

        werkzeug's parser leaves the file it was filling open when reading raises
        (the 413 of a chunked body over the limit, or a client that goes away).
        """
        try:
            super()._load_form_data()
        except BaseException:
            for file in self.__dict__.get("_part_files", ()):
                file.close()
            raise

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True):
        """Parse the body as JSON, once its nesting is known to be bounded.

        A body nested too deeply is a 400 problem even with ``silent``: it is
        not a body that failed to parse, but one that must not be parsed.
        """
        if (force or self.is_json) and not self._depth_checked:
            check_json_depth(self.get_data(cache=True))
            self._depth_checked = True
        return super().get_json(force=force, silent=silent, cache=cache)
