"""Each rule of the shipped policy: code it must flag, beside code that looks alike and must not be flagged."""

from __future__ import annotations

import pytest

from nativa.review import Policy, ReviewContext, risk_rank

# (rule, risk, flagged code, look-alike that this rule must not flag)
CASES = [
    ("import", "medium", "import sqlite3\n", "import json, math, collections.abc\n"),
    ("subprocess", "high", "import subprocess\nsubprocess.run(['ls'])\n", "import shlex\nshlex.split('a b')\n"),
    ("subprocess", "high", "import os\nos.system('ls')\n", "import os\nos.path.join('a', 'b')\n"),
    ("subprocess", "high", "from os import popen as p\np('id')\n", "from os import path as p\np.join('a')\n"),
    ("network", "high", "import socket\n", "import string\n"),
    ("network", "high", "import urllib.request\nurllib.request.urlopen('https://evil.example/')\n",
     "import urllib.parse\nurllib.parse.quote('a b')\n"),
    ("eval-exec", "high", "eval(input())\n", "import ast\nast.literal_eval('[1, 2]')\n"),
    ("eval-exec", "high", "exec('x = 1')\n", "import re\nre.compile('a+')\n"),
    ("ctypes", "high", "import ctypes\nctypes.CDLL(None)\n", "import struct\nstruct.pack('i', 1)\n"),
    ("deserialisation", "high", "import pickle\npickle.loads(b'')\n", "import json\njson.loads('{}')\n"),
    ("deserialisation", "high", "import marshal\n", "import hashlib\n"),
    ("process-control", "high", "import os\nos.kill(1, 9)\n", "import os\nos.getpid()\n"),
    ("process-control", "high", "import os\nos._exit(0)\n", "import sys\nsys.exit(0)\n"),
    ("process-control", "high", "import signal\nsignal.alarm(1)\n", "import time\ntime.sleep(0)\n"),
    ("introspection", "high", "import sys\nsys._getframe(1).f_globals\n", "import sys\nsys.getrecursionlimit()\n"),
    ("introspection", "high", "import gc\ngc.get_objects()\n", "import gc\ngc.collect()\n"),
    ("introspection", "high", "().__class__.__base__.__subclasses__()\n", "type(1).__name__\n"),
    ("introspection", "high", "def f(): pass\nf.__globals__\n", "def f(): pass\nf.__name__\n"),
    ("introspection", "high", "__builtins__\n", "print(len([1]))\n"),
    ("obfuscated-import", "high", "__import__('o' + 's').getcwd()\n", "__import__('math').sqrt(4)\n"),
    ("obfuscated-import", "high", "import importlib\nimportlib.import_module(''.join(['o', 's']))\n",
     "import importlib\nimportlib.import_module('json')\n"),
    ("obfuscated-import", "high", "import os, sys\ngetattr(os, sys.argv[1])\n",
     "class A:\n    x = 1\nname = 'x'\ngetattr(A(), name)\n"),
    ("obfuscated-import", "high", "import base64\nexec(base64.b64decode('cHJpbnQoMSk='))\n",
     "import base64\nprint(base64.b64decode('cHJpbnQoMSk='))\n"),
    ("obfuscated-import", "high", "import sys\nsys.modules['o' + 's']\n", "d = {'o' + 's': 1}\nd['o' + 's']\n"),
    ("subprocess", "high", "from os import *\nsystem('id')\n", "from math import *\nsqrt(4)\n"),
    ("subprocess", "high", "import posix\nposix.system('id')\n", "import os\nos.getcwd()\n"),
    ("obfuscated-import", "high", "load = __import__\nload('o' 's')\n", "import math\nf = math.sqrt\nf(4)\n"),
    ("environment", "medium", "import os\nos.environ['HOME']\n", "import os\nos.sep\n"),
    ("sensitive-path", "high", "open('/etc/shadow').read()\n", "open('data/etc/shadow.txt').read()\n"),
    ("sensitive-path", "high", "p = '/proc/' + '1/environ'\n", "p = 'proc' + 'ess'\n"),
    ("file-write", "high", "open('/etc/passwd2', 'w')\n", "open('/etc/hosts')\n"),
    ("file-write", "high", "open('../escape.txt', 'a')\n", "open('out/result.txt', 'w')\n"),
    ("file-write", "high", "from pathlib import Path\nPath('/usr/lib/x').write_text('x')\n",
     "from pathlib import Path\nPath('/usr/lib/x').read_text()\n"),
    ("file-write", "high", "import shutil\nshutil.rmtree('/var/lib')\n", "'a-b'.replace('-', '_')\n"),
    ("unbounded-loop", "medium", "while True:\n    pass\n", "while True:\n    if input():\n        break\n"),
    ("unbounded-loop", "medium", "import itertools\nfor i in itertools.count():\n    print(i)\n",
     "import itertools\nfor i in itertools.count():\n    if i > 3:\n        break\n"),
    ("unbounded-loop", "medium", "for i in range(10 ** 12):\n    pass\n", "for i in range(10 ** 6):\n    pass\n"),
    ("large-allocation", "medium", "b = bytearray(8 * 1024 ** 3)\n", "b = bytearray(1024)\n"),
    ("large-allocation", "medium", "x = [0] * 10 ** 10\n", "x = [0] * 10 ** 3\n"),
    ("large-allocation", "medium", "c = 'x' * 1000\nfor _ in range(10 ** 4):\n    print(c)\n",
     "c = 'x' * 10\nfor _ in range(10):\n    print(c)\n"),
    ("syntax-error", "low", "def f(:\n", "def f():\n    return 1\n"),
]


@pytest.mark.parametrize(("rule", "risk", "flagged", "clean"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rule_flags_its_example_and_not_the_look_alike(policy: Policy, rule: str, risk: str, flagged: str,
                                                         clean: str) -> None:
    hits = [f for f in policy.check_code(flagged).findings if f.rule == rule]
    assert hits, f"{rule} missed:\n{flagged}"
    assert any(f.risk == risk for f in hits), [(f.risk, f.message) for f in hits]
    assert all(f.line >= 1 for f in hits)
    floor = risk_rank("medium") if risk != "low" else risk_rank("low")  # writes in the work dir stay low
    wrong = [f for f in policy.check_code(clean).findings if f.rule == rule and risk_rank(f.risk) >= floor]
    assert not wrong, f"{rule} flagged:\n{clean}\n{wrong}"


def test_lines_point_at_the_offending_statement(policy: Policy) -> None:
    verdict = policy.check_code("import json\n\nx = 1\nimport os\nos.system('id')\n")
    assert [(f.rule, f.line) for f in verdict.findings] == [("subprocess", 5)]
    assert verdict.max_risk == "high" and verdict.findings[0].target == "os.system"


def test_names_are_resolved_through_aliases_and_assignments(policy: Policy) -> None:
    code = "import subprocess as sp\nrun = sp.run\nrun(['id'])\n"
    lines = {f.line for f in policy.check_code(code).findings if f.rule == "subprocess"}
    assert lines == {1, 2, 3}


def test_folded_names_are_named_in_the_finding(policy: Policy) -> None:
    verdict = policy.check_code("m = __import__('so'[::-1])\nm.system('id')\n")
    obfuscated = [f for f in verdict.findings if f.rule == "obfuscated-import"]
    assert obfuscated and obfuscated[0].target == "os" and "'os'" in obfuscated[0].message
    assert any(f.rule == "subprocess" and f.line == 2 for f in verdict.findings)


def test_code_that_exec_runs_is_reviewed_too(policy: Policy) -> None:
    verdict = policy.check_code("exec('import socket')\n")
    assert any(f.rule == "network" and f.message.startswith("in the code exec() runs") for f in verdict.findings)


def test_write_targets_inside_the_work_dir_are_low(policy: Policy) -> None:
    verdict = policy.check_code("open('/work/out.txt', 'w')\nopen('/tmp/scratch', 'wb')\nopen('rel.txt', 'x')\n")
    assert [(f.rule, f.risk, f.target) for f in verdict.findings] == [
        ("file-write", "low", "/work/out.txt"), ("file-write", "low", "/tmp/scratch"), ("file-write", "low", "rel.txt")]
    computed = policy.check_code("import sys\nopen(sys.argv[1], 'w')\n")
    assert [(f.rule, f.risk, f.target) for f in computed.findings] == [("file-write", "medium", None)]


def test_a_loop_over_constant_paths_is_followed(policy: Policy) -> None:
    verdict = policy.check_code("for p in ['/work/a', '/etc/b']:\n    open(p, 'w')\n")
    assert [(f.risk, f.target) for f in verdict.findings] == [("high", "/etc/b")]


def test_network_to_an_allowed_host_is_low_and_off_the_list_is_high(policy: Policy) -> None:
    code = "import urllib.request\nurllib.request.urlopen('https://api.example.com/v1/status')\n"
    granted = policy.check_code(code, ReviewContext(allow_hosts=("api.example.com",)))
    assert granted.max_risk == "low" and {f.target for f in granted.findings} >= {"api.example.com"}
    assert policy.check_code(code, ReviewContext(allow_hosts=("other.example.com",))).max_risk == "high"
    assert policy.check_code(code).max_risk == "high"


def test_docstrings_do_not_count_as_paths(policy: Policy) -> None:
    assert not policy.check_code('def f():\n    """Reads /etc/shadow in the real tool."""\n    return 1\n').findings


def test_hostile_inputs_do_not_make_the_review_expensive(policy: Policy) -> None:
    verdict = policy.check_code("x = 'a' * (10 ** 10 ** 10)\ny = 2 ** 2 ** 2 ** 2 ** 64\n")
    assert [f.rule for f in verdict.findings] == ["large-allocation"]
    deep = "x = " + "(" * 150 + "1" + ")" * 150 + "\n"
    assert policy.check_code(deep).max_risk in ("none", "low", "high")  # parsed or refused, never a crash
    very_deep = "x = " + "-" * 100_000 + "1\n"
    assert [f.rule for f in policy.check_code(very_deep).findings] in (["unreadable"], ["syntax-error"])


def test_benign_humaneval_style_code_has_no_findings(policy: Policy) -> None:
    code = (
        "from typing import List\nimport math\nfrom collections import Counter\n\n"
        "def f(xs: List[int]) -> int:\n    \"\"\"Sum.\"\"\"\n    c = Counter(xs)\n    i = 0\n"
        "    while True:\n        i += 1\n        if i > len(xs):\n            break\n"
        "    return int(math.fsum(xs)) + len(c)\n")
    assert policy.check_code(code).findings == ()
