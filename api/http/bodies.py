"""Request bodies, bounded before anything parses them.

``BodyRequest`` is the app's request class, so every reader of a body goes
through it: the JSON body validator, restx's ``ns.payload`` and reqparse.

- JSON nesting: Python's JSON parser and the schema validator both recurse once
  per level, so a body of a few thousand ``[`` overflows the stack (a 500 and a
  huge traceback). ``get_json`` therefore counts the levels first, without
  recursing, and a body deeper than ``MAX_JSON_DEPTH`` is a 400 problem. No
  input model nests more than three levels, so no valid body comes near it.
"""

import json
import re
from itertools import accumulate, repeat
from operator import sub

from flask import Request

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


class BodyRequest(Request):
    """Flask's request, with JSON bodies bounded in depth."""

    _depth_checked = False

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True):
        """Parse the body as JSON, once its nesting is known to be bounded.

        A body nested too deeply is a 400 problem even with ``silent``: it is
        not a body that failed to parse, but one that must not be parsed.
        """
        if (force or self.is_json) and not self._depth_checked:
            check_json_depth(self.get_data(cache=True))
            self._depth_checked = True
        return super().get_json(force=force, silent=silent, cache=cache)
