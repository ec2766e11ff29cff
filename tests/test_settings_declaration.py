"""Every setting is declared once (``stratos_wire.settings``); everything else agrees with it.

The cases are generated from the declaration: each setting's default, and sample values drawn
from its rules (their boundaries, both sides) and its kind (values of other kinds). For each,
the client's ``Settings``, a TOML file, a ``STRATOS_<NAME>`` variable and the daemon
(``spec_from_proto`` for a job's settings, the ``[stratosd]`` table for its own) give the
same default and accept or refuse the same values.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from stratos import InvalidJobSpec, Processor, Settings
from stratos_wire import settings as declared
from stratos_wire import stratos_pb2 as pb
from stratos_wire.settings import SETTINGS, Kind, PathUse, Scope, Setting
from stratosd import daemon_settings
from stratosd.convert import spec_from_proto, spec_to_proto
from stratosd.core.model import JobSpec
from stratosd.server import DaemonConfig

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = [s for s in SETTINGS.values() if s.scope is not Scope.DAEMON]
DAEMON = [s for s in SETTINGS.values() if s.scope is Scope.DAEMON]
SENT = declared.spec_settings()
#: a stand-in for "no such representation" in the helpers below.
NOT_SAYABLE = object()


def _kind_samples(kind: Kind) -> list[Any]:
    """Values of every kind, so each setting also meets values of the wrong one."""
    return [0, 1, -1, 1.5, 0.0, "x", "", "1", True, False, None, (1, 2), [3], ("a", "b"), ["c"], "auto"]


def samples(setting: Setting) -> list[Any]:
    values: list[Any] = [setting.default]
    for rule in setting.rules:
        values += rule.samples()
    values += _kind_samples(setting.kind)
    unique: list[Any] = []
    for v in values:
        if not any(type(v) is type(u) and (v == u or _both_nan(v, u)) for u in unique):
            unique.append(v)
    return unique


def _both_nan(a: Any, b: Any) -> bool:
    return isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and (a == b or _both_nan(a, b))


def _cases(settings: list[Setting]) -> Iterator[Any]:
    for s in settings:
        for v in samples(s):
            yield pytest.param(s, v, id=f"{s.name}={v!r}"[:80])


def accepted(make: Callable[[], object]) -> bool:
    try:
        make()
    except InvalidJobSpec:
        return False
    return True


@pytest.fixture(autouse=True)
def _no_settings_from_outside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("STRATOS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


# -- how a value is said in each source ------------------------------------------------------------


def _toml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else {math.inf: "inf", -math.inf: "-inf"}.get(value, repr(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    return "[" + ", ".join(_toml_text(v) for v in value) + "]"


def toml_file(tmp_path: Path, setting: Setting, value: Any) -> Path | None:
    """A settings file holding ``value``, or None when TOML cannot say it (None, huge integers)."""
    if value is None:
        return None
    text = f"[stratos]\n{setting.name} = {_toml_text(value)}\n"
    try:
        said = tomllib.loads(text)["stratos"][setting.name]
    except tomllib.TOMLDecodeError:
        return None
    if not _same(tuple(said) if isinstance(said, list) else said, tuple(value) if isinstance(value, list) else value):
        return None
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def env_text(setting: Setting, value: Any) -> Any:
    """``value`` as a STRATOS_<NAME> value, NOT_SAYABLE when the environment cannot say it, or
    None when what it says cannot be read (the environment refuses it)."""
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, tuple | list):
        text = ",".join(str(v) for v in value)
    else:
        text = str(value)
    if "\0" in text:
        return NOT_SAYABLE
    try:
        back = declared.from_env(setting, text)
    except ValueError:
        return None
    if declared.is_unset(back) or not _same(back, tuple(value) if isinstance(value, list) else value):
        return NOT_SAYABLE
    return text


def wire_spec(setting: Setting, value: Any, cwd: Path, valid: bool) -> pb.JobSpec | None:
    """The spec a client sends for ``value`` (a valid one with its paths resolved, as the client
    does), or None when the proto cannot carry it faithfully."""
    fractional = setting.kind is Kind.INT and isinstance(value, float)  # a double field carries it
    if (isinstance(value, bool) and setting.kind is not Kind.BOOL) or not (
            declared.has_kind(value, setting.kind) or fractional):
        return None
    if valid:
        return Settings().replace(**{setting.name: value}).to_proto(cwd=str(cwd))
    spec = Settings().to_proto(cwd=str(cwd))
    spec.ClearField(setting.name)
    try:
        wire = declared.to_wire(setting, value)
        if setting.kind in (Kind.INTS, Kind.STRS):
            getattr(spec, setting.name).extend(wire)
        else:
            setattr(spec, setting.name, wire)
    except Exception:
        return None
    return spec


# -- the tests --------------------------------------------------------------------------------------


def test_the_clients_settings_are_the_declared_ones() -> None:
    fields = [f.name for f in dataclasses.fields(Settings) if not f.name.startswith("_")]
    assert fields == [s.name for s in SCRIPT]
    assert all(getattr(Settings(), s.name) == s.default for s in SCRIPT)


def test_the_cores_spec_has_one_field_per_job_setting_with_its_default() -> None:
    wanted = [s.core for s in SENT] + [s.core + "_set" for s in SENT if s.explicit]
    assert sorted(f.name for f in dataclasses.fields(JobSpec)) == sorted(wanted), (
        "each job setting needs a field in stratosd/core/model.py's JobSpec: name = default('name')")
    for s in SENT:
        assert getattr(JobSpec(), s.core) == s.default, s.name


def test_the_protos_spec_has_one_field_per_job_setting() -> None:
    wanted = {s.name for s in SENT} | {s.presence for s in SENT if s.presence} | {s.explicit for s in SENT
                                                                                    if s.explicit}
    assert set(pb.JobSpec.DESCRIPTOR.fields_by_name) == wanted, (
        "each job setting needs a field of the same name in protos/stratos.proto's JobSpec")


@pytest.mark.parametrize("setting", SCRIPT, ids=lambda s: s.name)
def test_every_default_is_the_same_in_settings_toml_environment_and_the_daemon(
        setting: Setting, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = setting.name
    assert getattr(Settings(), name) == setting.default
    assert getattr(Settings.load(), name) == setting.default
    file = toml_file(tmp_path, setting, setting.default)
    if setting.default is not None:
        assert file is not None
        assert _same(getattr(Settings.load(file).validate(), name), setting.default)
    text = env_text(setting, setting.default)
    assert text is not None
    if text is NOT_SAYABLE:  # an empty value: the environment leaves the setting alone
        assert setting.default in ("", ())
        text = ""
    monkeypatch.setenv(setting.env, text)
    assert _same(getattr(Settings.load().validate(), name), setting.default)
    if setting.sent:
        core = spec_from_proto(Settings().to_proto(cwd=str(tmp_path)))
        expected = str(tmp_path / setting.default) if setting.path is PathUse.DIRECTORY else setting.default
        assert getattr(core, setting.core) == expected
        assert getattr(Settings.from_proto(spec_to_proto(core)), name) == expected


@pytest.mark.parametrize(("setting", "value"), list(_cases(SCRIPT)))
def test_every_value_is_accepted_or_refused_alike_by_settings_toml_environment_and_the_daemon(
        setting: Setting, value: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = setting.name
    direct = accepted(lambda: Settings().replace(**{name: value}).validate())
    if value is None:  # replace() ignores None: it is the unset default
        unset: dict[str, Any] = {name: None}
        direct = accepted(lambda: dataclasses.replace(Settings(), **unset).validate())
    file = toml_file(tmp_path, setting, value)
    if file is not None:
        assert accepted(lambda: Settings.load(file).validate()) == direct, f"TOML {name} = {value!r}"
    text = env_text(setting, value)
    if text is None:
        assert not direct, f"{setting.env} cannot say {value!r}, which Settings accepts"
    elif text is not NOT_SAYABLE:
        monkeypatch.setenv(setting.env, text)
        assert accepted(lambda: Settings.load().validate()) == direct, f"{setting.env}={text!r}"
        monkeypatch.delenv(setting.env)
    if not setting.sent:
        return
    spec = wire_spec(setting, value, tmp_path, direct)
    if spec is None:
        assert not direct, f"the JobSpec cannot carry {name}={value!r}, which Settings accepts"
        return
    if declared.unset_on_wire(setting, getattr(spec, name)):
        return  # the proto's zero means "not given" there: the daemon takes the default
    assert accepted(lambda: spec_from_proto(spec)) == direct, f"the daemon and Settings differ on {name}={value!r}"


def _round_trip_value(setting: Setting) -> Any:
    """A value other than the default that Settings accepts."""
    for v in samples(setting):
        wrong_bool = isinstance(v, bool) and setting.kind is not Kind.BOOL
        if v is None or wrong_bool or v == setting.default or not declared.has_kind(v, setting.kind):
            continue
        try:
            Settings().replace(**{setting.name: v}).validate()
        except InvalidJobSpec:
            continue
        return tuple(v) if isinstance(v, list) else v
    raise AssertionError(f"no sample of {setting.name} besides its default is valid")


@pytest.mark.parametrize("setting", SENT, ids=lambda s: s.name)
def test_every_job_setting_round_trips_settings_proto_core_and_back(setting: Setting, tmp_path: Path) -> None:
    value = _round_trip_value(setting)
    expected = float(value) if setting.kind is Kind.FLOAT else value
    if setting.path is PathUse.PROGRAM:
        expected = declared.resolve_program(value)
    elif setting.path is PathUse.DIRECTORY:
        expected = os.path.normpath(tmp_path / value)
    elif any(isinstance(r, declared.AbsolutePath) for r in setting.rules):
        expected = os.path.normpath(value)
    settings = Settings().replace(**{setting.name: value}).validate()
    core = spec_from_proto(settings.to_proto(cwd=str(tmp_path)))
    assert getattr(core, setting.core) == expected
    if setting.explicit:
        assert getattr(core, setting.core + "_set") and not getattr(spec_from_proto(Settings().to_proto()),
                                                                     setting.core + "_set")
    others = {s.core for s in SENT if s is not setting}
    assert all(getattr(core, f) == getattr(spec_from_proto(Settings().to_proto(cwd=str(tmp_path))), f)
               for f in others), "only this setting changed"
    back = Settings.from_proto(spec_to_proto(core))
    assert getattr(back, setting.name) == expected
    assert back.is_set(setting.name)


def test_daemon_settings_defaults_are_the_daemons() -> None:
    config = {f.name: f.default for f in dataclasses.fields(DaemonConfig)}
    for s in DAEMON:
        assert config[s.name] == s.default, s.name


@pytest.mark.parametrize(("setting", "value"), list(_cases(DAEMON)))
def test_the_stratosd_table_and_the_stratosd_run_flags_accept_the_same_values(setting: Setting, value: Any) -> None:
    if value is None:
        return  # neither can say None: an absent key or flag is the default
    table = accepted(lambda: daemon_settings.parse({"stratosd": {setting.name: value}}))
    if isinstance(value, bool):  # TOML's true/false; flags have no booleans
        assert table == (setting.booleans is not None)
    elif not declared.has_kind(value, setting.kind):
        assert not table, f"[stratosd] {setting.name} = {value!r} is not of its kind"
    else:
        assert accepted(lambda: daemon_settings.from_flag(setting.name, str(value))) == table


# -- the README's table and the example settings file -----------------------------------------------


def _read_default(cell: str) -> Any:
    if cell == "unset":
        return None
    text = cell.strip("`")
    if text.startswith('"'):
        return json.loads(text)
    if text.startswith("["):
        return tuple(json.loads(text))
    if text in ("true", "false"):
        return text == "true"
    return float(text) if re.search(r"[.eE]", text) else int(text)


def test_the_readme_table_names_every_setting_with_its_default_and_scope() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("<!-- settings table:", 1)[1].split("<!-- end of settings table -->", 1)[0]
    rows = [[c.strip() for c in line.strip("|").split(" | ")] for line in table.splitlines()[3:] if line]
    assert [r[0].strip("`") for r in rows] == list(SETTINGS), "run: python protos/generate.py"
    for (name, default, scope, doc), s in zip(rows, SETTINGS.values(), strict=True):
        assert _read_default(default) == s.default, f"{name}: README says {default}, the declaration {s.default!r}"
        assert scope.split(",")[0] == s.scope.value and doc
    assert table.split("\n", 1)[1] == declared.markdown_table(), "run: python protos/generate.py"


def test_the_defaults_the_readme_and_processors_docstring_name_are_the_declared_ones() -> None:
    readme = (ROOT / "README.md").read_text()
    named = re.findall(r"`(\w+)` \((?:default )?\**([0-9.]+)", readme) + re.findall(
        r"default\s+`(\w+)=([0-9.]+)`", readme)
    named = [(name, text) for name, text in named if name in SETTINGS]
    assert len(named) >= 5, named
    for name, text in named:
        assert float(text) == SETTINGS[name].default, f"the README says {name} defaults to {text}"
    documented = re.findall(r":param (\w+): [^:]*?\(([0-9.]+)\)", Processor.__doc__ or "")
    assert len(documented) >= 4, documented
    for name, text in documented:
        assert float(text) == SETTINGS[name].default, f"Processor's docstring says {name} defaults to {text}"


def test_the_example_settings_file_holds_the_defaults() -> None:
    data = tomllib.loads((ROOT / "deploy" / "config.example.toml").read_text())
    for key, value in data["stratos"].items():
        assert key in SETTINGS and SETTINGS[key].scope is not Scope.DAEMON, key
        assert value == SETTINGS[key].default, f"deploy/config.example.toml: {key} = {value!r}"
    for key, value in data.get("stratosd", {}).items():
        assert SETTINGS[key].scope is Scope.DAEMON and value == SETTINGS[key].default, key


def test_a_list_of_strings_setting_needs_only_its_declaration() -> None:
    """A setting such as ``after`` (job ids a job waits for) reads, checks and travels as declared."""

    @dataclasses.dataclass(frozen=True)
    class WithAfter:
        after: tuple[str, ...] = declared.declare((), "jobs this one waits for", declared.Each(declared.SafeJobId()))

    (after,) = declared.collect(WithAfter).values()
    assert (after.kind, after.default, after.env) == (Kind.STRS, (), "STRATOS_AFTER")
    assert declared.from_toml(after, ["a", "b.1"]) == ("a", "b.1")
    with pytest.raises(ValueError):
        declared.from_toml(after, ["a", 1])
    assert declared.from_env(after, " a, b.1 ,") == ("a", "b.1")
    assert declared.from_wire(after, declared.to_wire(after, ("a", "b"))) == ("a", "b")
    assert declared.check({"after": ("a", "b.1")}, [after], wire=True) == []
    assert declared.check({"after": ("a", "../x")}, [after], wire=False) == [
        "after '../x' is not a safe name: use 1-128 letters, digits, '_', '.' or '-', starting with a letter or "
        "digit, without '..'"]
    assert declared.shown(("a",)) == '`["a"]`'
