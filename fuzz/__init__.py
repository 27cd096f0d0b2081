"""Coverage-guided fuzzing (atheris, on libFuzzer) of every parser of client input.

One target per parser, each a module run as ``python -m fuzz.<target> [corpus
dirs] [libFuzzer flags]``: ``json_body`` (JSON bodies of the write
operations), ``cursor`` (``after`` cursors), ``query`` (query strings of the
listings), ``multipart`` (image uploads) and ``headers`` (``If-Match``,
``If-None-Match``, ``Idempotency-Key``, ``Accept``, ``Authorization`` and more).
Each sends its input through the app's contract-checked test client
(``fuzz.harness``), and any 5xx, logged error or traceback, or answer the spec
does not document is a crash. ``python -m fuzz.run`` runs them with a time
budget, each on its committed seed corpus (``fuzz/corpus/<target>/``); ``make
fuzz`` runs each for ``FUZZ_SECONDS``, and the test suite for a few seconds.
"""
