"""Key rule 3's code text (studies/source_text.py): what may change without changing a key,
and what must change it."""
from __future__ import annotations

import hashlib

import pytest

from studies import expand as ex
from studies.source_text import code_text

from test_studies_spec import _EditedTree

BASE = b'''"""Module docstring."""
import numpy as np  # a comment


def f(a, b):
    """Docstring,
    two lines."""
    return np.sqrt(a) * b + f"{a!r:>{b}}"


class C:
    "class docstring"
    x = 1
'''

SAME = [   # comments, docstrings, blank lines, spacing, a missing final newline
    BASE.replace(b"# a comment", b"# another comment, longer"),
    BASE.replace(b'"""Module docstring."""', b'"""A different\n\nmodule docstring."""'),
    BASE.replace(b'"""Docstring,\n    two lines."""', b"'doc' 'string'"),
    BASE.replace(b'"class docstring"\n', b""),
    BASE.replace(b"\n\n\n", b"\n"),
    BASE.replace(b"f(a, b)", b"f( a,b )").replace(b"* b", b"*b"),
    BASE.replace(b"    ", b"  "),
    BASE.rstrip(b"\n"),
    b"# header\n" + BASE,
]
DIFFERENT = [   # any token
    BASE.replace(b"np.sqrt", b"np.cbrt"),
    BASE.replace(b"x = 1", b"x = 2"),
    BASE.replace(b"* b", b"/ b"),
    BASE.replace(b'f"{a!r:>{b}}"', b'f"{a!s:>{b}}"'),
    BASE.replace(b"    x = 1\n", b"x = 1\n"),                      # block structure
    BASE.replace(b'"class docstring"\n    x = 1', b'x = 1\n    "not a docstring"'),
    BASE + b"y = 0\n",
]


@pytest.mark.parametrize("i", range(len(SAME)))
def test_code_text_ignores_what_cannot_change_a_result(i):
    assert code_text(SAME[i]) == code_text(BASE)


@pytest.mark.parametrize("i", range(len(DIFFERENT)))
def test_code_text_changes_with_every_token(i):
    assert code_text(DIFFERENT[i]) != code_text(BASE)


def test_code_text_is_pinned_so_keys_do_not_drift_across_python_versions():
    """The exact text (Python 3.12 tokenizes f-strings in pieces; they are joined back to
    one STRING as 3.11 has it): a change here re-keys every stored trial."""
    assert code_text(b'x = f"{a}b{c!r}"  # c\n') == b'NAME x\nOP =\nSTRING f"{a}b{c!r}"\nNEWLINE\n'
    assert hashlib.sha256(code_text(BASE)).hexdigest()[:16] == "e04c306c92c465af"


def test_code_after_a_docstring_on_the_same_line_counts():
    assert code_text(b'"""d"""; y = 1\n') != code_text(b'"""d"""; y = 2\n')
    assert code_text(b'"""d"""; y = 1\n') != code_text(b'"""d"""\n')


def test_code_text_of_a_file_that_does_not_parse_raises():
    with pytest.raises(SyntaxError):
        code_text(b"def f(:\n")


@pytest.mark.parametrize("rel", ["adaptlr/mlp/training.py", "adaptlr/optimizers/sgd.py"])
def test_key_rule_3_keeps_keys_over_a_comment_edit_rule_2_does_not(rel):
    src = ex.SourceTree().read(rel)
    comment = _EditedTree({rel: src + b"\n# a comment\n"})
    code = _EditedTree({rel: src + b"\nEDITED = 1\n"})
    assert ex.source_hash(None, comment) == ex.source_hash(None)
    assert ex.source_hash(None, comment, scheme=2) != ex.source_hash(None, scheme=2)
    assert ex.source_hash(None, code) != ex.source_hash(None)
    assert ex.code_version()["key_scheme"] == ex.KEY_SCHEME >= 3
