"""Study declarations: grid expansion, validation, trial keys and code version."""
from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import sys

import pytest

from studies import expand as ex
from studies.selftest import STUDY, trial
from studies.spec import SpecError, Study, settings_of

CODE = {"adaptlr": "0.1.0", "source_sha256": "0" * 64}


def _study(**kw):
    base = dict(name="toy", title="toy", trial=trial,
                problems={"p": {"d": 4, "scale_ratio": 1.0, "noise": 0.1, "data_seed": 0}},
                optimizers={"sgd": {"lr": [0.1, 0.01]}, "momentum": [{"lr": 0.1, "mu": 0.9}]},
                seeds=(0, 1, 2), epochs=2, batch_size=5, params={"n_train": 20, "n_test": 20},
                allowed=lambda: {"sgd": ("lr",), "momentum": ("lr", "mu")})
    base.update(kw)
    return Study(**base)


def test_settings_of_product_and_explicit():
    assert settings_of("a", {"lr": [1, 2], "mu": [0.5]}) == [{"lr": 1, "mu": 0.5}, {"lr": 2, "mu": 0.5}]
    assert settings_of("a", [{"lr": 1}]) == [{"lr": 1}]
    assert settings_of("a", {}) == [{}]
    with pytest.raises(SpecError, match="must be a list"):
        settings_of("a", {"lr": 0.1})


def test_expand_counts_order_and_json():
    st = _study()
    specs = ex.expand(st)
    assert len(specs) == 1 * (2 + 1) * 3
    assert [(s["optimizer"], s["hyper"], s["seed"]) for s in specs[:4]] == [
        ("sgd", {"lr": 0.1}, 0), ("sgd", {"lr": 0.1}, 1), ("sgd", {"lr": 0.1}, 2),
        ("sgd", {"lr": 0.01}, 0)]
    for s in specs:
        assert json.loads(json.dumps(s)) == s  # JSON-able
        assert s["epochs"] == 2 and s["batch_size"] == 5 and s["params"]["n_train"] == 20
    # the seed list is shared by every setting (pairing)
    assert {tuple(sorted(s["seed"] for s in specs if s["hyper"] == h["hyper"]
                         and s["optimizer"] == h["optimizer"])) for h in specs} == {(0, 1, 2)}


def test_quick_overrides_and_restrict():
    q = STUDY.resolved(quick=True)
    assert q.seeds == (0, 1, 2) and q.epochs == 2
    assert q.params == {"n_train": 200, "n_test": 400}  # merged key by key
    assert STUDY.resolved(quick=False) is STUDY
    r = STUDY.restricted(only=["sgd"], overrides={"sgd": {"lr": [0.3]}})
    assert list(r.optimizers) == ["sgd"] and settings_of("sgd", r.optimizers["sgd"]) == [{"lr": 0.3}]
    with pytest.raises(SpecError, match="unknown optimizer.*'nope'.*momentum"):
        STUDY.restricted(only=["nope"])
    bad = dataclasses.replace(STUDY, quick={"epochz": 1})
    with pytest.raises(SpecError, match="epochz"):
        bad.resolved(quick=True)


def test_restrict_problems_keeps_the_full_runs_keys():
    st = _study(problems={"p": {"d": 4, "scale_ratio": 1.0, "noise": 0.1, "data_seed": 0},
                          "q": {"d": 8, "scale_ratio": 1.0, "noise": 0.1, "data_seed": 0}})
    r = st.restricted(problems=["q"])
    assert list(r.problems) == ["q"]
    full = dict((k, s) for k, s in ex.keyed(ex.expand(st), CODE))
    part = ex.keyed(ex.expand(r), CODE)
    assert len(part) == len(full) // 2 and all(full[k] == s for k, s in part)
    with pytest.raises(SpecError, match=r"unknown problem\(s\) \['nope'\].*'p', 'q'"):
        st.restricted(problems=["nope"])


def test_key_is_sha256_of_canonical_json():
    spec = ex.expand(_study())[0]
    text = json.dumps({"spec": spec, "code": CODE}, sort_keys=True, separators=(",", ":"))
    assert ex.trial_key(spec, CODE) == hashlib.sha256(text.encode()).hexdigest()


def test_key_stable_and_sensitive():
    specs = ex.expand(_study())
    keys = [ex.trial_key(s, CODE) for s in specs]
    assert len(set(keys)) == len(keys)
    # stable: recomputed, re-expanded, dict order irrelevant
    assert keys == [ex.trial_key(s, CODE) for s in ex.expand(_study())]
    shuffled = dict(reversed(list(specs[0].items())))
    assert ex.trial_key(shuffled, CODE) == keys[0]
    # changes with any part of the spec
    for change in ({"seed": 7}, {"epochs": 3}, {"hyper": {"lr": 0.2}}, {"quick": True},
                   {"device": "cuda"}, {"params": {"n_train": 21, "n_test": 20}}):
        assert ex.trial_key({**specs[0], **change}, CODE) != keys[0], change
    # changes with each part of the code version
    for field in CODE:
        assert ex.trial_key(specs[0], {**CODE, field: CODE[field] + "x"}) != keys[0], field


def test_code_version_covers_library_and_engine_sources(tmp_path, monkeypatch):
    cv = ex.code_version()
    # no git commit: see studies.expand
    assert set(cv) == {"adaptlr", "key_scheme", "source_sha256", "methods"}
    import adaptlr

    assert cv["adaptlr"] == adaptlr.__version__
    # the source hash is over adaptlr/ and studies/ content: a change in either changes it
    fake_a, fake_s = tmp_path / "adaptlr", tmp_path / "studies"
    fake_a.mkdir()
    fake_s.mkdir()
    (fake_a / "m.py").write_text("x = 1\n")
    (fake_s / "n.py").write_text("y = 1\n")
    monkeypatch.setattr(ex, "_roots", lambda: {"adaptlr": fake_a, "studies": fake_s})
    h0 = ex.source_hash()
    (fake_a / "m.py").write_text("x = 2\n")
    h1 = ex.source_hash()
    (fake_s / "n.py").write_text("y = 2\n")
    h2 = ex.source_hash()
    (fake_s / "__pycache__").mkdir()
    (fake_s / "__pycache__" / "junk.py").write_text("z")
    assert len({h0, h1, h2}) == 3 and ex.source_hash() == h2
    # engine modules compute no trial results: editing them keeps the stored trials' keys
    (fake_s / "report.py").write_text("r = 1\n")
    assert ex.source_hash() == h2


def test_study_code_version_covers_its_module_and_imported_helpers_only(tmp_path, monkeypatch):
    """Per-study hash: the study's module and the studies modules it imports (also inside a
    function, transitively), never an unrelated study; the library always."""
    import types

    fake_a, fake_s = tmp_path / "adaptlr", tmp_path / "studies"
    fake_a.mkdir()
    fake_s.mkdir()
    (fake_a / "m.py").write_text("x = 1\n")
    (fake_s / "study_a.py").write_text("from .helper import f\n\ndef trial(s):\n"
                                       "    from . import lazy\n    return f(s)\n")
    (fake_s / "helper.py").write_text("from studies.deep import g\n")
    (fake_s / "deep.py").write_text("g = 1\n")
    (fake_s / "lazy.py").write_text("h = 1\n")
    (fake_s / "study_b.py").write_text("b = 1\n")
    monkeypatch.setattr(ex, "_roots", lambda: {"adaptlr": fake_a, "studies": fake_s})
    st = types.SimpleNamespace(name="fake-a")
    mod = types.ModuleType("studies_user_fake_a")
    mod.STUDY, mod.__file__ = st, str(fake_s / "study_a.py")
    monkeypatch.setitem(sys.modules, "studies_user_fake_a", mod)

    def h():
        return ex.source_hash(st)

    h0 = h()
    (fake_s / "study_b.py").write_text("b = 2\n")
    assert h() == h0                      # another study: keys unchanged
    seen = {h0}
    for f in ("study_a.py", "helper.py", "deep.py", "lazy.py"):
        (fake_s / f).write_text((fake_s / f).read_text() + "EDITED = 1\n")
        assert h() not in seen, f          # its own code, direct, transitive and lazy imports
        seen.add(h())
    (fake_a / "m.py").write_text("x = 2\n")
    assert h() not in seen                 # the library
    assert ex.source_hash() != h()         # without a study: every module


@pytest.mark.parametrize("change, match", [
    ({"optimizers": {"nope": {"lr": [0.1]}}}, r"unknown optimizer 'nope'; allowed: \['momentum', 'sgd'\]"),
    ({"optimizers": {"sgd": {"lrr": [0.1]}}}, r"unknown hyperparameter 'lrr' for optimizer 'sgd'; allowed: \['lr'\]"),
    ({"optimizers": {"sgd": {"lr": []}}}, "empty grid for optimizer 'sgd'"),
    ({"optimizers": {}}, "empty grid: no optimizers"),
    ({"problems": {}}, "empty grid: no problems"),
    ({"seeds": ()}, "empty grid: no seeds"),
    ({"seeds": (0, 0)}, "duplicate seeds"),
    ({"epochs": 0}, "epochs must be"),
    ({"batch_size": 0}, "batch_size must be"),
    ({"optimizers": {"sgd": {"lr": [float("nan")]}}}, "finite number"),
    ({"optimizers": {"sgd": {"lr": ["0.1"]}}}, "finite number"),
])
def test_validation_errors_name_the_value(change, match):
    with pytest.raises(SpecError, match=match):
        ex.expand(_study(**change))


def test_reproducible_trial_bit_identical():
    spec = ex.expand(_study())[3]
    a, b = trial(dict(spec)), trial(dict(spec))
    for k in a:
        if isinstance(a[k], tuple):
            assert np.array_equal(a[k][1], b[k][1], equal_nan=True)
    other = trial({**spec, "seed": spec["seed"] + 1})
    assert not np.array_equal(a["train_loss"][1], other["train_loss"][1])


# ---------------------------------------------------------------- per-problem grids
def _two_problem_study(**kw):
    probs = {"p": {"d": 4, "scale_ratio": 1.0, "noise": 0.1, "data_seed": 0},
             "q": {"d": 8, "scale_ratio": 1.0, "noise": 0.1, "data_seed": 0}}
    return _study(problems=probs, **kw)


def test_problem_grid_replaces_the_common_grid_for_that_problem_only():
    cut = {"sgd": {"lr": [0.01, 0.5]}}
    st = _two_problem_study(problem_optimizers={"q": cut})
    specs = ex.expand(st)
    on = {p: [(s["optimizer"], s["hyper"]) for s in specs if s["problem"] == p and s["seed"] == 0]
          for p in ("p", "q")}
    assert on["p"] == [("sgd", {"lr": 0.1}), ("sgd", {"lr": 0.01}), ("momentum", {"lr": 0.1, "mu": 0.9})]
    assert on["q"] == [("sgd", {"lr": 0.01}), ("sgd", {"lr": 0.5})]
    # problem p's trials keep the keys of the study without the cut
    plain = dict(ex.keyed(ex.expand(_two_problem_study()), CODE))
    for k, s in ex.keyed(specs, CODE):
        assert (k in plain) == (s["problem"] == "p" or s["hyper"] == {"lr": 0.01})
    assert '"problem_optimizers"' in st.as_json() and '"problem_optimizers"' not in _study().as_json()


def test_problem_grid_restrict_quick_and_validation():
    st = _two_problem_study(problem_optimizers={"q": {"sgd": {"lr": [0.01, 0.5]},
                                                      "momentum": [{"lr": 0.2, "mu": 0.5}]}})
    r = st.restricted(only=["momentum"], overrides={"momentum": {"mu": [0.8]}})
    assert r.grid("p") == {"momentum": [{"lr": 0.1, "mu": 0.8}]}
    assert r.grid("q") == {"momentum": [{"lr": 0.2, "mu": 0.8}]}
    assert list(st.restricted(problems=["p"]).problem_optimizers) == []
    # an optimizer that only a problem's grid has is known to `only`
    only_q = _two_problem_study(optimizers={"sgd": {"lr": [0.1]}},
                                problem_optimizers={"q": {"momentum": [{"lr": 0.1, "mu": 0.9}]}})
    assert [s["problem"] for s in ex.expand(only_q.restricted(only=["momentum"]))] == ["q"] * 3
    with pytest.raises(SpecError, match=r"unknown optimizer\(s\) \['adam'\].*momentum.*sgd"):
        only_q.restricted(only=["adam"])
    # a quick form with its own optimizers uses them for every problem
    q = dataclasses.replace(st, quick={"optimizers": {"sgd": {"lr": [0.3]}}}).resolved(True)
    assert q.grid("q") == q.grid("p") == {"sgd": {"lr": [0.3]}}
    with pytest.raises(SpecError, match=r"problem_optimizers names problem 'zz'.*\['p', 'q'\]"):
        _two_problem_study(problem_optimizers={"zz": {"sgd": {"lr": [1.0]}}}).validate()
    with pytest.raises(SpecError, match=r"unknown hyperparameter 'beta' for optimizer 'sgd'"):
        _two_problem_study(problem_optimizers={"q": {"sgd": {"beta": [1.0]}}}).validate()
    with pytest.raises(SpecError, match=r"sgd.lr=nan must be a finite number"):
        _two_problem_study(problem_optimizers={"q": {"sgd": {"lr": [float("nan")]}}}).validate()


def test_key_scheme_2_leaves_out_method_modules_the_study_does_not_use():
    """ADADELTA-like study: its optimizers' modules are hashed, other methods' are not; a grid
    naming something outside the registry, or no study, hashes every method module."""
    st = _study()                                   # sgd and momentum
    files = set(ex.hashed_files(st))
    every, used = ex.method_modules(st)
    assert used == {"adaptlr/optimizers/sgd.py", "adaptlr/optimizers/momentum.py"}
    assert used <= files and not (every - used) & files
    assert "adaptlr/optimizers/vsgd.py" in set(ex.hashed_files(st, scheme=1))
    assert "adaptlr/training.py" not in files and "adaptlr/mlp/training.py" in files
    oracle = _study(optimizers={"sgd": {"lr": [0.1]}, "oracle": [{}]}, allowed=None)
    assert every <= set(ex.hashed_files(oracle)) and every <= set(ex.hashed_files())


class _EditedTree:
    """The checkout's files with some replaced (an in-memory commit)."""

    def __init__(self, edits=None):
        base = ex.SourceTree()
        self._base, self._edits = base, dict(edits or {})
        self.files = base.files

    def read(self, rel):
        return self._edits.get(rel, self._base.read(rel))


def test_unused_method_module_edit_keeps_keys_used_one_changes_them():
    st = _study()
    now = ex.source_hash(st)
    assert ex.source_hash(st, _EditedTree()) == now
    for rel, same in (("adaptlr/optimizers/vsgd.py", True), ("adaptlr/optimizers/sgd.py", False),
                      ("adaptlr/mlp/training.py", False)):
        edited = _EditedTree({rel: ex.SourceTree().read(rel) + b"\nEDITED = 1\n"})
        assert (ex.source_hash(st, edited) == now) == same, rel
        assert ex.source_hash(st, edited, scheme=1) != ex.source_hash(st, scheme=1), rel


def test_rekey_source_tree_names_a_bad_revision():
    with pytest.raises(SpecError, match=r"--from 'no-such-rev' is not a git commit.*allowed: a commit"):
        ex.SourceTree("no-such-rev")


def test_a_part_of_a_study_has_the_whole_forms_code_version_and_keys():
    """--only/--problems cut the grids; the key must not see the cut (it did, with key rule
    2, when the test ran alone: an '--only sgd' part hashed sgd.py but not momentum.py)."""
    from studies import api

    whole = api.prepare("selftest")
    for part in (api.prepare("selftest", only=["sgd"]),
                 api.prepare("selftest", only=["sgd"], seeds=[0]),
                 api.prepare("selftest", problems=["ls-d8"])):
        assert ex.code_version(part) == ex.code_version(whole)
        code = ex.code_version(part)
        assert {k for k, _ in ex.keyed(ex.expand(part), code)} <= {
            k for k, _ in ex.keyed(ex.expand(whole), ex.code_version(whole))}


def test_key_rule_4_a_trial_covers_its_own_method_module_and_the_shared_code():
    """sgd + momentum study: a code edit of momentum.py re-keys the momentum trials only,
    one of a shared module every trial; a name outside the registry covers every method."""
    st = _study()
    specs = ex.expand(st)
    def by_opt(code):
        return {o: {ex.trial_key(s, code) for s in specs if s["optimizer"] == o}
                for o in ("sgd", "momentum")}

    now = by_opt(ex.code_version(st))
    for rel, changed in (("adaptlr/optimizers/momentum.py", {"momentum"}),
                         ("adaptlr/optimizers/sgd.py", {"sgd"}),
                         ("adaptlr/mlp/training.py", {"sgd", "momentum"}),
                         ("adaptlr/optimizers/vsgd.py", set())):
        edited = _EditedTree({rel: ex.SourceTree().read(rel) + b"\nEDITED = 1\n"})
        keys = by_opt(ex.code_at(st, edited))
        assert {o for o in now if keys[o] != now[o]} == changed, rel
        assert all(not (keys[o] & now[o]) for o in changed), rel
    code = ex.code_version(st)
    assert set(code["methods"]) == {"sgd", "momentum"}
    oracle = {**specs[0], "optimizer": "oracle"}
    moved = {**code, "methods": {**code["methods"], "sgd": "0" * 64}}
    assert ex.trial_key(oracle, moved) != ex.trial_key(oracle, code)   # every method counts
    assert ex.trial_code(specs[0], {"adaptlr": "0.1.0", "source_sha256": "x"}) == {
        "adaptlr": "0.1.0", "source_sha256": "x"}                         # rules 1-3: all of it
