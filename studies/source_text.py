"""The code of a Python source file without what cannot change a result: key rule 3's text.

Key rule 3 (:data:`studies.expand.KEY_SCHEME`) hashes :func:`code_text` of each covered
file instead of its bytes, so editing a comment, a docstring, blank lines or the spacing
inside a line leaves every stored trial's key as it was, while any change of a token (a
name, a number, an operator, an indentation level) gives new keys.

:func:`code_text` is the file's token stream, one token per line as ``TYPE text``:

* dropped: comments, blank and continuation lines (``NL``), the encoding marker, and
  docstrings (the string literal that opens a module, class or function body, as
  :func:`ast.get_docstring` finds it), with the ``NEWLINE`` right after them (a statement
  after a ``;`` on the same line is kept);
* ``NEWLINE``, ``INDENT`` and ``DEDENT`` are written without their text (so an indentation
  width or a missing final newline does not count, a change of block structure does);
* an f-string is one ``STRING`` token with its source text, as Python <= 3.11 tokenizes it
  (3.12 splits it into ``FSTRING_START`` ... ``FSTRING_END``; those are joined back), so
  the text, and every key, is the same on every Python version the package supports.

It is a pure function of the file's bytes: no import, no compilation.
"""
from __future__ import annotations

import ast
import io
import tokenize

_FSTRING_START = getattr(tokenize, "FSTRING_START", None)
_FSTRING_END = getattr(tokenize, "FSTRING_END", None)
_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER}
_BARE = {tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}


def _docstring_starts(tree: ast.AST) -> set[tuple[int, int]]:
    """(line, column) where each docstring's first string token starts."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                out.add((body[0].lineno, body[0].col_offset))
    return out


def _slice(lines: list[str], start: tuple[int, int], end: tuple[int, int]) -> str:
    (r0, c0), (r1, c1) = start, end
    if r0 == r1:
        return lines[r0 - 1][c0:c1]
    return "".join([lines[r0 - 1][c0:], *lines[r0:r1 - 1], lines[r1 - 1][:c1]])


def code_text(src: bytes) -> bytes:
    """The normalized token text of ``src`` (module docstring); raises ``SyntaxError`` for a
    file that does not parse (such a file cannot have computed a result)."""
    docs = _docstring_starts(ast.parse(src))
    text = src.decode("utf-8-sig") if isinstance(src, bytes) else src
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    in_doc = False          # dropping a docstring's string tokens
    fstring_depth, fstring_start = 0, None
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if _FSTRING_START is not None and tok.type in (_FSTRING_START, _FSTRING_END):
            if tok.type == _FSTRING_START:
                if fstring_depth == 0:
                    fstring_start = tok.start
                fstring_depth += 1
            else:
                fstring_depth -= 1
                if fstring_depth == 0:
                    tok = tokenize.TokenInfo(tokenize.STRING,
                                             _slice(lines, fstring_start, tok.end),
                                             fstring_start, tok.end, tok.line)
                    # fall through: emitted (or dropped as a docstring) as one STRING
        if fstring_depth:
            continue
        if tok.type in _SKIP:
            continue
        if tok.type == tokenize.STRING and tok.start in docs:
            in_doc = True
        if in_doc:
            if tok.type == tokenize.STRING:      # the docstring (implicitly concatenated too)
                continue
            in_doc = False
            if tok.type == tokenize.NEWLINE:     # the statement's end goes with it
                continue
        name = tokenize.tok_name[tok.type]
        out.append(name if tok.type in _BARE else f"{name} {tok.string}")
    return ("\n".join(out) + "\n").encode()
