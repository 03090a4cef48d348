"""Carry stored trials over to a new key rule when the code that computed them is unchanged.

The trial key holds a hash of the source files a study's results depend on
(:func:`studies.expand.hashed_files`). When the *rule* that picks those files changes
(:data:`studies.expand.KEY_SCHEME`; scheme 2 leaves out the method modules of optimizers
a study does not use), or when a library change touches only files that a study's new
rule leaves out (a vSGD fix, for the ADADELTA studies), the stored trials get other keys
although the code that computed them is, file for file, the code the new key covers.

:func:`rekey` proves that per trial and only then renames it. For a trial file of study S
stored with code version ``c`` (scheme 1, the rule before 2026-11-23), it looks for a git
commit ``R`` among ``revs`` such that:

1. ``c`` is S's scheme-1 code version at ``R`` and the file's key is the key of its own
   spec with ``c`` (the file is what commit R computes), and
2. S's scheme-2 hash at ``R`` equals S's scheme-2 hash of the checkout now (every file
   the new key covers is byte for byte the same), and the package version is the same,
3. its spec is one of S's trials now.

Then the trial is written under its new key with the current code version; the code
version it was computed with stays in the attribute ``code_version_computed`` and the
commit in ``rekeyed_from``. Anything else is left alone (and ``prune`` lists it as stale).
"""
from __future__ import annotations

import json
from pathlib import Path

from . import store
from .expand import (SourceTree, code_version, expand, keyed, source_hash, trial_key)


def rekey(study, out: Path, revs: list[str], *, apply: bool = False) -> dict:
    """Re-key the trials of ``study`` in ``out`` that the proof above carries over.

    Returns ``{"rekeyed": [(old key, new key, rev)], "current": n, "left": [(key, why)]}``;
    with ``apply=False`` nothing is written (a dry run).
    """
    now = code_version(study)
    wanted = {k for k, _ in keyed(expand(study), now)}
    trees = {rev: SourceTree(rev) for rev in revs}
    v1 = {rev: source_hash(study, t, scheme=1) for rev, t in trees.items()}
    v2 = {rev: source_hash(study, t, scheme=2) for rev, t in trees.items()}
    res: dict = {"rekeyed": [], "current": 0, "left": []}
    for key in sorted(store.finished_keys(out)):
        if key in wanted:
            res["current"] += 1
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
        rev = next((r for r in revs if set(code) == {"adaptlr", "source_sha256"}
                    and code["source_sha256"] == v1[r]), None)
        if rev is None:
            res["left"].append((key, f"computed at none of {revs}"))
            continue
        if v2[rev] != now["source_sha256"]:
            res["left"].append((key, f"files its new key covers changed since {rev}"))
            continue
        res["rekeyed"].append((key, new, rev))
        if apply:
            ds.attrs.update({"key": new, "code_version": json.dumps(now, sort_keys=True),
                             "code_version_computed": json.dumps(code, sort_keys=True),
                             "rekeyed_from": str(rev)})
            store.atomic_write_dataset(ds, store.trial_path(out, new))
            store.trial_path(out, key).unlink()
    return res
