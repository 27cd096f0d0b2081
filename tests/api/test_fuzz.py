"""A short run of every fuzz target (``fuzz/``): the seeds, then a few seconds of mutation each.

``make fuzz`` runs the same targets for minutes (``FUZZ_SECONDS``); this keeps
every target working and its committed seeds passing in ``make test``. Each
target runs in its own process on a fresh database of the suite's kind, so on
PostgreSQL when ``TEST_DATABASE_URL`` is set.
"""

import os

import pytest

from fuzz.run import CORPUS, TARGETS, run_all

pytestmark = pytest.mark.slow
# Per target; the targets run as many at a time as there are CPUs.
SECONDS = int(os.environ.get("FUZZ_TEST_SECONDS", "5"))


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return run_all(
        TARGETS, seconds=SECONDS, workdir=tmp_path_factory.mktemp("fuzz"), jobs=os.cpu_count() or 1
    )


@pytest.mark.parametrize("target", TARGETS)
def test_a_target_has_seeds(target):
    assert any((CORPUS / target).iterdir())


@pytest.mark.parametrize("target", TARGETS)
def test_fuzzing_finds_no_wrong_answer(results, target):
    result = results[target]

    assert not result.found, result.report()
    # It did run: every seed, and then inputs of its own.
    assert result.runs > len(list((CORPUS / target).iterdir())), result.report()
