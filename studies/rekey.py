"""Carry stored trials over to new keys when the code that computed them is unchanged.

The trial key holds a hash of the source files a study's results depend on
(:func:`studies.expand.hashed_files`). When the *rule* that picks those files or what of
them is hashed changes (:data:`studies.expand.KEY_SCHEME`: scheme 2 leaves out the method
modules of optimizers a study does not use, scheme 3 hashes code text without comments and
docstrings, scheme 4 gives each trial the method module of its own optimizer only), or
when a library change touches only files that a study's rule leaves out, the stored
trials get other keys although the code that computed them is, file for file, the code
the new key covers.

:func:`rekey` proves that per trial and only then carries it over. For a trial of study S
stored with code version ``c`` (of scheme ``s``: 1 when ``c`` names none), it looks for a
git commit ``R`` among ``revs`` such that:

1. ``c`` is S's scheme-``s`` code version at ``R`` and the trial's key is the key of its
   own spec with ``c`` (the trial is what commit R computes), and
2. S's code version under the current scheme at ``R`` equals S's code version of the
   checkout now (every file the new key covers is the same as the key rule sees it), and
   the package version is the same,
3. its spec is one of S's trials now;

where, from rule 4 on, "code version" means the part of it that covers this trial
(:func:`studies.expand.trial_code`: the shared files and the trial's own method module).

Then the trial is carried: the ledger ``trials/carried.json`` (:mod:`studies.store`) maps
its current key to the stored file, with ``R`` and the current code version, and every
reader sees it under the current key, with the code version that computed it in the
attribute ``code_version_computed`` and ``R`` in ``rekeyed_from``. The trial file itself is
not rewritten (rewriting every stored study's files made a submission too large to land).
Anything else is left alone (and ``prune`` lists it as stale). A trial carried earlier
(a ledger key) is checked against the code version the ledger gave it and carried from
the same file.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

from . import store
from .expand import SourceTree, code_at, code_version, expand, keyed, trial_code, trial_key


def full_commit(rev: str) -> str:
    """The full hash of commit ``rev`` of the checkout (what the ledger records), or ``rev``
    itself where git cannot resolve it (:class:`~studies.expand.SourceTree` then names it)."""
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(["git", "-C", str(root), "rev-parse", "--verify", "--quiet",
                          f"{rev}^{{commit}}"], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else rev


def _scheme(code: dict) -> int | None:
    """The key rule a stored code version was made under (None: not a code version)."""
    if set(code) == {"adaptlr", "source_sha256"}:
        return 1
    s = code.get("key_scheme")
    if not isinstance(s, int) or isinstance(s, bool):
        return None
    if set(code) == {"adaptlr", "key_scheme", "source_sha256"} and 2 <= s <= 3:
        return s
    if set(code) == {"adaptlr", "key_scheme", "source_sha256", "methods"} and s >= 4:
        return s
    return None


def rekey(study, out: Path, revs: list[str], *, apply: bool = False) -> dict:
    """Carry over the trials of ``study`` in ``out`` that the proof above covers.

    Returns ``{"rekeyed": [(old key, new key, rev)], "current": n, "left": [(key, why)]}``;
    with ``apply=False`` nothing is written (a dry run).
    """
    now = code_version(study)
    wanted = {k for k, _ in keyed(expand(study), now)}
    trees = {rev: SourceTree(rev) for rev in revs}
    codes: dict[tuple[str, int], dict] = {}

    def at(rev: str, scheme: int) -> dict:
        if (rev, scheme) not in codes:
            codes[rev, scheme] = code_at(study, trees[rev], scheme=scheme)
        return codes[rev, scheme]

    res: dict = {"rekeyed": [], "current": 0, "left": []}
    carry: dict[str, tuple[str, str, dict]] = {}
    carried_from = {e["stored"] for k, e in store.read_carried(out)["trials"].items()
                    if k in wanted}
    for key in sorted(store.finished_keys(out)):
        if key in wanted:
            res["current"] += 1
            continue
        if key in carried_from:     # the file of a current carried key: nothing to do
            continue
        ds = store.read_trial(out, key)
        spec = json.loads(ds.attrs["spec"])
        code = json.loads(ds.attrs["code_version"])
        if trial_key(spec, code) != key:
            res["left"].append((key, "its key is not the key of its own spec and code"))
            continue
        new = trial_key(spec, now)
        if new not in wanted:
            res["left"].append((key, "its spec is not among the study's trials now"))
            continue
        if code.get("adaptlr") != now["adaptlr"]:
            res["left"].append((key, f"package version {code.get('adaptlr')} != {now['adaptlr']}"))
            continue
        scheme = _scheme(code)
        mine = trial_code(spec, code) if scheme is not None else None
        rev = None if scheme is None else next(
            (r for r in revs if mine == trial_code(spec, at(r, scheme))), None)
        if rev is None:
            res["left"].append((key, f"computed at none of {revs}"))
            continue
        if trial_code(spec, at(rev, now["key_scheme"])) != trial_code(spec, now):
            res["left"].append((key, f"files its new key covers changed since {rev}"))
            continue
        if new in carry:        # two stored trials of one spec (a rerun and a carry-over)
            continue
        res["rekeyed"].append((key, new, rev))
        carry[new] = (store.stored_path(out, key).stem, str(rev), now)
    if apply and carry:
        store.write_carried(out, carry)
    return res
