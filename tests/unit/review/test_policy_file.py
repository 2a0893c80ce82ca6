"""The policy file: the shipped default is valid and documented, a team file overrides it, bad files are refused
with one line naming the bad key or value."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from nativa.errors import PolicyError
from nativa.review import Policy
from nativa.review._config import RULE_FIELDS

NETWORK_CODE = "import socket\n"


def _write(tmp_path: Path, text: str, name: str = "team.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_shipped_default_names_every_rule_with_a_comment() -> None:
    text = (Path(__file__).parents[3] / "src/nativa/review/rules.toml").read_text()
    for rule_id in RULE_FIELDS:
        found = re.search(rf"^\[rules\.{re.escape(rule_id)}\]\n(.*)$", text, re.MULTILINE)
        assert found, f"{rule_id} is missing from the default policy"
        assert found.group(1).startswith("# "), f"{rule_id} has no comment saying what it flags"
    assert all(rule.enabled for rule in Policy.load().rules.values())


def test_a_team_file_relaxes_one_rule_and_keeps_the_rest(tmp_path: Path) -> None:
    relaxed = Policy.load(_write(tmp_path, '[rules.network]\nrisk = "low"\n'))
    assert relaxed.check_code(NETWORK_CODE).max_risk == "low"
    assert relaxed.check_code("import os\nos.system('id')\n").max_risk == "high"  # untouched rule


def test_a_team_file_tightens_the_allow_list(tmp_path: Path) -> None:
    code = "import json\n"
    assert Policy.load().check_code(code).findings == ()
    tight = Policy.load(_write(tmp_path, '[rules.import]\nallow = ["math"]\nrisk = "high"\n'))
    assert [(f.rule, f.risk, f.target) for f in tight.check_code(code).findings] == [("import", "high", "json")]
    extended = Policy.load(_write(tmp_path, '[rules.import]\nalso_allow = ["sqlite3"]\n', "more.toml"))
    assert extended.check_code("import sqlite3\nimport json\n").findings == ()


def test_a_rule_can_be_turned_off(tmp_path: Path) -> None:
    off = Policy.load(_write(tmp_path, "[rules.network]\nenabled = false\n"))
    # socket is then only a module off the allow-list: the import rule still asks about it
    assert [(f.rule, f.risk) for f in off.check_code(NETWORK_CODE).findings] == [("import", "medium")]
    both = Policy.load(_write(tmp_path, "[rules.network]\nenabled = false\n[rules.import]\nenabled = false\n",
                              "both.toml"))
    assert both.check_code(NETWORK_CODE).findings == ()


def test_extends_none_checks_only_the_rules_named(tmp_path: Path) -> None:
    alone = Policy.load(_write(tmp_path, 'extends = "none"\n[rules.subprocess]\nrisk = "high"\n'
                                         'modules = ["subprocess"]\n'))
    assert alone.check_code(NETWORK_CODE).findings == ()
    assert alone.check_code("import subprocess\n").max_risk == "high"


def test_json_policy_files_work_the_same(tmp_path: Path) -> None:
    path = _write(tmp_path, json.dumps({"rules": {"network": {"risk": "medium"}}}), "team.json")
    assert Policy.load(path).check_code(NETWORK_CODE).max_risk == "medium"


@pytest.mark.parametrize(("text", "named"), [
    ('[rules.netwrk]\nrisk = "high"\n', "unknown key 'rules.netwrk'"),
    ('[rules.network]\nrsik = "high"\n', "unknown key 'rules.network.rsik'"),
    ('[rules.network]\nrisk = "extreme"\n', 'rules.network.risk = "extreme" is invalid'),
    ('[rules.unbounded-loop]\nmax_iterations = 0\n', "rules.unbounded-loop.max_iterations = 0 is invalid"),
    ('version = 2\n', "version = 2 is invalid"),
    ('extends = "strict"\n', 'extends = "strict" is invalid'),
    ('[rules.file-write.calls]\n"os.remove" = "first"\n', "rules.file-write.calls.os.remove"),
    ("[rules.network\n", "is not valid TOML"),
])
def test_bad_policy_files_name_the_bad_key_or_value(tmp_path: Path, text: str, named: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(PolicyError) as info:
        Policy.load(path)
    message = str(info.value)
    assert named in message and str(path) in message and "\n" not in message


def test_unknown_keys_list_what_is_valid_there(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="valid keys here: .*allowed_host_risk.*risk"):
        Policy.load(_write(tmp_path, '[rules.network]\nrsik = "high"\n'))


def test_unreadable_policy_files_are_bad_input(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policy file"):
        Policy.load(tmp_path / "absent.toml")
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(PolicyError, match="not UTF-8"):
        Policy.load(binary)
    with pytest.raises(PolicyError, match="must hold a table"):
        Policy.load(_write(tmp_path, "[1, 2]", "list.json"))
