"""Property-based fuzzing of every pure parser: only ParseError may come out, never another exception.

Each parser is fed inputs built from the corpus its unit tests already use (tests/unit/fixtures/**,
provenance in each SOURCES.md): a real output truncated at a random point, with lines deleted,
duplicated or swapped, characters flipped or inserted (non-ASCII, NUL, control and escape
sequences such as a literal \\xe5), numbers replaced by huge, negative or non-numeric values, and
plain random text; JSON outputs are also mutated structurally (wrong types, missing keys, nested
nulls). The property: the parser returns normally or raises the project's ParseError (or, for the
few functions whose contract names another error, that error). Anything else fails the test.

Budget: FUZZ_EXAMPLES examples per parser (BIG_EXAMPLES for the parsers with the largest corpora),
derandomized so CI sees the same cases on every run. The number of cases each parser was called
with is printed at the end of the module's tests and written as JSON to $LIFELINE_FUZZ_REPORT when
that is set (docs/development.md, Fuzzing). Crashes the fuzzer found are kept as plain regression
tests at the end of this file.
"""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.lifeline.storage.plugins.filter.lvm_metadata import lvm_metadata
from ansible_collections.lifeline.storage.plugins.module_utils._disk_probe import mdadm_uuid
from ansible_collections.lifeline.storage.plugins.module_utils._errors import ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._lsblk_parse import parse_lsblk_json
from ansible_collections.lifeline.storage.plugins.module_utils._lvm_collect import devices_file_pvids
from ansible_collections.lifeline.storage.plugins.module_utils._lvm_parse import (
    decode_lv_attr,
    parse_lvm_fullreport,
    parse_lvm_metadata_backup,
    parse_lvm_report_json,
)
from ansible_collections.lifeline.storage.plugins.module_utils._md_autoassembly import (
    auto_policy,
    metadata_kind,
    reached_rule_lines,
)
from ansible_collections.lifeline.storage.plugins.module_utils._mdadm_conf_parse import parse_mdadm_examine_scan
from ansible_collections.lifeline.storage.plugins.module_utils._mdadm_parse import (
    parse_mdadm_detail,
    parse_mdadm_detail_export,
    parse_mdadm_examine,
)
from ansible_collections.lifeline.storage.plugins.module_utils._mdstat_parse import (
    parse_mdstat,
    parse_sysfs_md_member_state,
    parse_sysfs_sync_completed,
)
from ansible_collections.lifeline.storage.plugins.module_utils._mirror_plan import (
    PlanError,
    data_area_from_examine,
    examine_size_bytes,
)
from ansible_collections.lifeline.storage.plugins.module_utils._mountinfo_parse import (
    parse_mountinfo,
    unescape_mount_field,
)
from ansible_collections.lifeline.storage.plugins.module_utils._signature_parse import (
    classify_signature,
    parse_blkid_export_multi,
    parse_blkid_full,
    parse_blkid_json,
    parse_blkid_probe,
    parse_blkid_udev,
    parse_sfdisk_json,
    parse_wipefs_json,
    signatures_from_blkid_tags,
)
from ansible_collections.lifeline.storage.plugins.module_utils._smartctl_parse import (
    low_power_mode,
    parse_ata_error_count,
    parse_smartctl_info,
    parse_smartctl_json_text,
)

from .test__mdadm_conf_parse import HAND_WRITTEN_EXAMINE_SCAN, HAND_WRITTEN_MDADM_CONF

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

# The budget per parser. With derandomize the same cases run every time; raise these locally
# (or set LIFELINE_FUZZ_SCALE) to search longer.
SCALE = float(os.environ.get("LIFELINE_FUZZ_SCALE", "1"))
FUZZ_EXAMPLES = int(200 * SCALE)
BIG_EXAMPLES = int(400 * SCALE)
FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


# ------------------------------------------------------------------------------------------
# The corpus: the same recorded outputs the parsers' unit tests read
# ------------------------------------------------------------------------------------------

class Corpus(list):
    """Texts to start from; shown by count, so a failing case's report stays readable."""

    def __repr__(self) -> str:
        return "<%d corpus texts>" % len(self)


def _read(path: Path) -> str:
    # Bytes that are not UTF-8 (one smartctl fixture) become \xNN escapes, as tool output does.
    return path.read_bytes().decode("utf-8", "backslashreplace")


def _files(pattern: str, exclude: str | None = None) -> list[str]:
    paths = sorted(path for path in FIXTURES.glob(pattern) if path.is_file() and path.name != "SOURCES.md")
    return [_read(path) for path in paths if exclude is None or not re.search(exclude, path.name)]


def _hosts() -> list[dict]:
    return [json.loads(_read(path)) for path in sorted((FIXTURES / "hosts").glob("*.json"))]


def _host_outputs(name: str, first_arg: str) -> list[str]:
    return [command["stdout"] for host in _hosts() for command in host["commands"]
            if command["name"] == name and command["args"][:1] == [first_arg] and command["stdout"]]


def _host_outputs_with(name: str, args_start: list[str]) -> list[str]:
    return [command["stdout"] for host in _hosts() for command in host["commands"]
            if command["name"] == name and command["args"][:len(args_start)] == args_start and command["stdout"]]


def _host_files(pattern: str) -> list[str]:
    return [text for host in _hosts() for path, text in sorted(host["files"].items()) if re.search(pattern, path) and text]


def _probe_outputs(name: str) -> list[str]:
    recorded = json.loads(_read(FIXTURES / "disks" / "probe_commands.json"))
    return [command["stdout"] for command in recorded["commands"] if command["name"] == name and command["stdout"]]


def _lvm_report(kind: str) -> list[str]:
    return [_read(path) for path in sorted((FIXTURES / "lvm").rglob("*.json"))
            if "_%s_" % kind in path.name or path.name.endswith("_%s.json" % kind)]


def _lv_attrs() -> list[str]:
    found = set()
    for text in _files("lvm/**/*.json"):
        found.update(re.findall(r'"lv_attr":\s*"([^"]*)"', text))
    return sorted(found)


def _examine_fields(field: str) -> list[str]:
    values = set()
    for text in _files("md/mdadm/*examine*.txt") + _files("md_assemble/*.examine.txt"):
        values.update(match.strip() for match in re.findall(r"^\s*%s : (.*)$" % re.escape(field), text, re.MULTILINE))
    return sorted(values)


# ------------------------------------------------------------------------------------------
# Mutations
# ------------------------------------------------------------------------------------------

# Characters tools and kernels are not expected to print, and some they do: NUL, escapes, a
# literal \xe5 as _text.py writes undecodable bytes, line separators str.splitlines() honours
# but "\n"-splitting does not, digits int() refuses (superscripts) or accepts (Arabic-Indic).
ODD_CHARACTERS = ["\x00", "\xe5", "\\xe5", "\\", "\t", "\r", "\n", "\r\n", "\x1b[0m", "\x0b", "\x0c", "\x1c", "\x85",
                  "\u2028", "\ufeff", "\ufffd", "é", "²", "½", "١", "=", ":", ",", ";", "\"", "'", "{", "}", "[",
                  "]", "(", ")", " ", "#", "-", "+", ".", "0", "9", "x"]
ODD_TEXT = st.lists(st.sampled_from(ODD_CHARACTERS), max_size=6).map("".join)
# Numbers tools print, made huge (past int()'s 4300-digit limit too), negative or not numbers at all.
ODD_NUMBERS = ["-1", "0", "-0", "00", "4294967296", "18446744073709551617", "9" * 40, "9" * 5000, "1e400", "1.5",
               "1.2.3", "..", "NaN", "inf", "-inf", "0x1f", "", " ", "²", "١٢", "1_000", "+7", "٣.٤"]
RANDOM_TEXT = st.text(max_size=400)


def _cut(draw, text: str) -> str:
    return text[:draw(st.integers(0, len(text)))]


def _line_edit(draw, text: str) -> str:
    lines = text.split("\n")
    index = draw(st.integers(0, len(lines) - 1))
    operation = draw(st.sampled_from(["delete", "duplicate", "swap", "replace", "insert"]))
    if operation == "delete":
        del lines[index]
    elif operation == "duplicate":
        lines.insert(index, lines[index])
    elif operation == "swap":
        other = draw(st.integers(0, len(lines) - 1))
        lines[index], lines[other] = lines[other], lines[index]
    elif operation == "replace":
        lines[index] = draw(st.one_of(ODD_TEXT, st.text(max_size=80)))
    else:
        lines.insert(index, draw(st.one_of(ODD_TEXT, st.text(max_size=80))))
    return "\n".join(lines)


def _char_edit(draw, text: str) -> str:
    index = draw(st.integers(0, len(text)))
    replace = draw(st.integers(0, 2)) if index < len(text) else 0
    return text[:index] + draw(st.one_of(ODD_TEXT, st.text(min_size=1, max_size=4))) + text[index + replace:]


def _number_edit(draw, text: str) -> str:
    numbers = list(re.finditer(r"\d+(?:\.\d+)?", text))
    if not numbers:
        return text
    found = draw(st.sampled_from(numbers))
    return text[:found.start()] + draw(st.sampled_from(ODD_NUMBERS)) + text[found.end():]


_TEXT_MUTATIONS = (_cut, _line_edit, _line_edit, _char_edit, _char_edit, _number_edit, _number_edit)


@st.composite
def mutated_text(draw, corpus: list[str]) -> str:
    """A corpus output with one to five random text mutations."""
    text = draw(st.sampled_from(corpus))
    for _round in range(draw(st.integers(1, 5))):
        text = draw(st.sampled_from(_TEXT_MUTATIONS))(draw, text)
    return text


WRONG_VALUES = [None, [], {}, [None], {"": None}, "", "x", "-1", "9" * 5000, -1, 0, 10 ** 30, 1.5, float("nan"), True,
                False, [[]], {"a": [None]}, "\x00", "\\xe5"]


def _json_paths(value, path: tuple = ()) -> list[tuple]:
    paths = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            paths.extend(_json_paths(child, path + (key,)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            paths.extend(_json_paths(child, path + (index,)))
    return paths


def _json_edit(draw, document):
    """Replace, delete, wrap or retype one node of DOCUMENT; the root may be replaced too."""
    path = draw(st.sampled_from(_json_paths(document)))
    if not path:
        return copy.deepcopy(draw(st.sampled_from(WRONG_VALUES + [[document], {"report": None}])))
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    key = path[-1]
    operation = draw(st.sampled_from(["replace", "replace", "delete", "wrap", "stringify", "rename"]))
    if operation == "replace":
        parent[key] = copy.deepcopy(draw(st.sampled_from(WRONG_VALUES)))
    elif operation == "delete":
        del parent[key]
    elif operation == "wrap":
        parent[key] = [parent[key]]
    elif operation == "stringify":
        parent[key] = json.dumps(parent[key])
    elif isinstance(parent, dict):
        parent[draw(st.sampled_from(["", "x", "NAME", "name", "\x00"]))] = parent.pop(key)
    return document


def _loads(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return None  # a man-page example with a trailing comma: text mutations only


@st.composite
def mutated_json(draw, corpus: list[str]) -> str:
    """A JSON corpus output with one to four structural edits, printed back as JSON."""
    documents = [text for text in corpus if _loads(text) is not None]
    document = json.loads(draw(st.sampled_from(documents)))
    for _round in range(draw(st.integers(1, 4))):
        document = _json_edit(draw, document)
    return json.dumps(document, indent=draw(st.sampled_from([None, 3])))


def text_inputs(corpus: list[str]):
    return st.one_of(mutated_text(corpus), mutated_text(corpus), mutated_text(corpus), RANDOM_TEXT)


def json_inputs(corpus: list[str]):
    return st.one_of(mutated_json(corpus), mutated_json(corpus), mutated_text(corpus), RANDOM_TEXT)


# ------------------------------------------------------------------------------------------
# The parsers, their corpora and the errors their contracts allow
# ------------------------------------------------------------------------------------------

def _call_examine_area(text: str):
    return data_area_from_examine("/dev/fuzz", 0, text, "")


def _call_size(value: str):
    examine_size_bytes(value, "1.2")
    return examine_size_bytes(value, "0.90")


def _call_auto(words: list[str]):
    return [auto_policy(words, kind) for kind in ("1.x", "0.90", "ddf", "imsm")]


def _text_list(corpus: list[str]):
    return st.lists(st.one_of(st.sampled_from(corpus), ODD_TEXT, st.text(max_size=10)), max_size=8)


# (id, parser taking the drawn input, strategy factory, corpus loader, allowed errors, examples)
TARGETS = [
    ("parse_mdstat", parse_mdstat, text_inputs,
     lambda: _files("md/mdstat/*.txt") + _files("md_assemble/*.mdstat.txt") + _host_files(r"^/proc/mdstat$"), (ParseError,),
     BIG_EXAMPLES),
    ("parse_sysfs_md_member_state", parse_sysfs_md_member_state, text_inputs,
     lambda: _host_files(r"/dev-[^/]+/state$"), (ParseError,), FUZZ_EXAMPLES),
    ("parse_sysfs_sync_completed", parse_sysfs_sync_completed, text_inputs,
     lambda: _host_files(r"/sync_completed$"), (ParseError,), FUZZ_EXAMPLES),
    ("parse_mdadm_detail_export", parse_mdadm_detail_export, text_inputs,
     lambda: _files("md/mdadm/**/*.export.txt") + _host_outputs_with("mdadm", ["--detail", "--export"]), (ParseError,),
     FUZZ_EXAMPLES),
    ("parse_mdadm_detail", parse_mdadm_detail, text_inputs,
     lambda: _files("md/mdadm/jc_mdadm-query-*.txt"), (ParseError,), BIG_EXAMPLES),
    ("parse_mdadm_examine", parse_mdadm_examine, text_inputs,
     lambda: _files("md/mdadm/jc_mdadm-examine*.txt") + _files("md_assemble/*.examine.txt")
     + _files("mirror_compare/*.txt") + _host_outputs_with("mdadm", ["--examine", "/dev/"])
     + [text for text in _host_outputs("mdadm", "--examine") if not text.startswith("ARRAY")], (ParseError,), BIG_EXAMPLES),
    ("parse_mdadm_examine_scan", parse_mdadm_examine_scan, text_inputs,
     lambda: _host_outputs_with("mdadm", ["--examine", "--scan"]) + [HAND_WRITTEN_EXAMINE_SCAN, HAND_WRITTEN_MDADM_CONF],
     (ParseError,), FUZZ_EXAMPLES),
    ("parse_lvm_fullreport", parse_lvm_fullreport, json_inputs,
     lambda: _files("lvm/hansmi_*.json") + _files("lvm/lvm2_man_fullreport_with_log.json") + _host_outputs("lvm", "fullreport"),
     (ParseError,), BIG_EXAMPLES),
    ("parse_lvm_report_json[pvs]", lambda text: parse_lvm_report_json(text, "pvs"), json_inputs,
     lambda: _lvm_report("pvs"), (ParseError,), FUZZ_EXAMPLES),
    ("parse_lvm_report_json[vgs]", lambda text: parse_lvm_report_json(text, "vgs"), json_inputs,
     lambda: _lvm_report("vgs"), (ParseError,), FUZZ_EXAMPLES),
    ("parse_lvm_report_json[lvs]", lambda text: parse_lvm_report_json(text, "lvs"), json_inputs,
     lambda: _lvm_report("lvs") + _files("lvm/lvm2_man_lvs_json.json") + _files("lvm/lvm2_test_*.json"), (ParseError,),
     BIG_EXAMPLES),
    ("parse_lvm_metadata_backup", parse_lvm_metadata_backup, text_inputs,
     lambda: _files("lvm/*.vg.txt") + _host_files(r"^/etc/lvm/backup/"), (ParseError,), BIG_EXAMPLES),
    ("lvm_metadata (filter)", lvm_metadata, text_inputs,
     lambda: _files("lvm/*.vg.txt"), (AnsibleFilterError,), FUZZ_EXAMPLES),
    ("decode_lv_attr", decode_lv_attr, text_inputs, _lv_attrs, (ParseError,), FUZZ_EXAMPLES),
    ("devices_file_pvids", devices_file_pvids, text_inputs,
     lambda: _host_files(r"^/etc/lvm/devices/"), (ParseError,), FUZZ_EXAMPLES),
    ("parse_wipefs_json", parse_wipefs_json, json_inputs,
     lambda: _files("signatures/wipefs/*.json") + _probe_outputs("wipefs"), (ParseError,), BIG_EXAMPLES),
    ("parse_blkid_probe", parse_blkid_probe, text_inputs,
     lambda: _probe_outputs("blkid") + _files("signatures/blkid/recorded/*export-luks.txt"), (ParseError,), FUZZ_EXAMPLES),
    ("parse_blkid_export_multi", parse_blkid_export_multi, text_inputs,
     lambda: _files("signatures/blkid/util-linux/output-export-*") + _files("signatures/blkid/recorded/*export-multi.txt"),
     (ParseError,), FUZZ_EXAMPLES),
    ("parse_blkid_udev", parse_blkid_udev, text_inputs,
     lambda: _files("signatures/blkid/util-linux/low-probe-*") + _files("signatures/blkid/util-linux/output-udev-*"),
     (ParseError,), BIG_EXAMPLES),
    ("parse_blkid_full", parse_blkid_full, text_inputs,
     lambda: _files("signatures/blkid/util-linux/output-full-*") + _files("signatures/blkid/util-linux/usages-*")
     + _files("signatures/blkid/libstorage-ng_blkid-241_*") + _files("signatures/blkid/libstorage-ng_probe/*"), (ParseError,),
     BIG_EXAMPLES),
    ("parse_blkid_json", parse_blkid_json, json_inputs,
     lambda: _files("signatures/blkid/*.json") + _files("signatures/blkid/util-linux/output-json-*"), (ParseError,),
     FUZZ_EXAMPLES),
    ("parse_sfdisk_json", parse_sfdisk_json, json_inputs,
     lambda: _files("signatures/sfdisk/*.json"), (ParseError,), FUZZ_EXAMPLES),
    ("parse_lsblk_json", parse_lsblk_json, json_inputs,
     lambda: _host_outputs("lsblk", "--json") + _files("md_assemble/*.lsblk.json"), (ParseError,), BIG_EXAMPLES),
    ("parse_mountinfo", parse_mountinfo, text_inputs,
     lambda: _files("disks/mountinfo.txt"), (ParseError,), FUZZ_EXAMPLES),
    ("unescape_mount_field", unescape_mount_field, text_inputs,
     lambda: sorted({field for line in _files("disks/mountinfo.txt")[0].split("\n") for field in line.split(" ")} - {""}),
     (ParseError,), FUZZ_EXAMPLES),
    ("parse_smartctl_info", parse_smartctl_info, text_inputs,
     lambda: _files("smart/**/*.txt"), (ParseError,), FUZZ_EXAMPLES),
    ("parse_ata_error_count", parse_ata_error_count, text_inputs,
     lambda: _files("smart/**/*.txt"), (ParseError,), FUZZ_EXAMPLES),
    ("parse_smartctl_json_text", parse_smartctl_json_text, json_inputs,
     lambda: _files("smart/**/--json=o_*.txt"), (ParseError,), FUZZ_EXAMPLES),
    ("low_power_mode", low_power_mode, text_inputs,
     lambda: _files("smart/standby/*.txt") + _files("smart/lab/-i__*.txt"), (ParseError,), FUZZ_EXAMPLES),
    ("reached_rule_lines", reached_rule_lines, text_inputs,
     lambda: _files("md_assemble/*.rules"), (ParseError,), FUZZ_EXAMPLES),
    ("data_area_from_examine", _call_examine_area, text_inputs,
     lambda: _files("mirror_compare/*.txt") + _files("md_assemble/*.examine.txt"), (PlanError,), FUZZ_EXAMPLES),
    ("examine_size_bytes", _call_size, text_inputs,
     lambda: _examine_fields("Used Dev Size") + _examine_fields("Avail Dev Size") + _examine_fields("Array Size"), (ParseError,),
     FUZZ_EXAMPLES),
    ("mdadm_uuid", mdadm_uuid, text_inputs,
     lambda: _examine_fields("Array UUID") + ["3f5ea966-6745-a7df-ab5b-0f5c236f14b9"], (ParseError,), FUZZ_EXAMPLES),
    ("metadata_kind", metadata_kind, text_inputs,
     lambda: _examine_fields("Version") + ["ddf", "imsm"], (ParseError,), FUZZ_EXAMPLES),
    ("classify_signature", lambda pair: classify_signature(*pair), None,
     lambda: ["ext4", "crypto_LUKS", "linux_raid_member", "LVM2_member", "swap", "gpt", "dos", "jbd", "filesystem", "raid"],
     (ParseError,), FUZZ_EXAMPLES),
    ("signatures_from_blkid_tags", signatures_from_blkid_tags, None,
     lambda: ["TYPE", "PTTYPE", "USAGE", "UUID", "UUID_SUB", "LABEL", "VERSION", "PTUUID", "PART_ENTRY_TYPE", "PARTUUID"],
     (ParseError,), FUZZ_EXAMPLES),
    ("auto_policy", _call_auto, None,
     lambda: ["+1.x", "-all", "homehost", "yes", "no", "+imsm", "-ddf", "+0.90", "-1", "+0", "-1.2"], (ParseError,),
     FUZZ_EXAMPLES),
]


def _strategy(target_id: str, factory, corpus: list[str]):
    if factory is not None:
        return factory(corpus)
    if target_id == "classify_signature":
        words = st.one_of(st.sampled_from(corpus), ODD_TEXT, st.text(max_size=12))
        return st.tuples(words, st.one_of(st.none(), words))
    if target_id == "signatures_from_blkid_tags":
        return st.dictionaries(st.one_of(st.sampled_from(corpus), st.text(max_size=8)),
                               st.one_of(st.none(), ODD_TEXT, st.text(max_size=12)), max_size=8)
    return _text_list(corpus)


@pytest.fixture(scope="module")
def fuzz_counts(request):
    """Cases each parser was called with; printed and, with $LIFELINE_FUZZ_REPORT, written as JSON."""
    counts: dict[str, int] = {}
    yield counts
    report = os.environ.get("LIFELINE_FUZZ_REPORT")
    if report:
        Path(report).write_text(json.dumps(counts, indent=1, sort_keys=True) + "\n")
    terminal = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if terminal is None or capture is None or not counts:
        return
    with capture.global_and_fixture_disabled():
        terminal.write_line("")
        terminal.write_line("fuzzed parsers: %d, generated cases: %d" % (len(counts), sum(counts.values())))
        for name, count in counts.items():
            terminal.write_line("  %-32s %6d" % (name, count))


@pytest.mark.parametrize("target", TARGETS, ids=[target[0] for target in TARGETS])
def test_parser_raises_only_its_own_error(target, fuzz_counts):
    target_id, parser, factory, corpus_loader, allowed, examples = target
    corpus = Corpus(corpus_loader())
    assert corpus, "%s has no corpus to start from" % target_id
    fuzz_counts.setdefault(target_id, 0)

    @settings(FUZZ_SETTINGS, max_examples=examples)
    @given(_strategy(target_id, factory, corpus))
    def check(value):
        fuzz_counts[target_id] += 1
        try:
            parser(value)
        except allowed as error:
            if isinstance(error, ParseError) and error.line_number is not None:
                assert error.line_number >= 1 and isinstance(error.line, str), error

    check()


# ------------------------------------------------------------------------------------------
# Crashes the fuzzer found, kept as plain regression tests
# ------------------------------------------------------------------------------------------

BIG = "9" * 5000


def _first_fixture(pattern: str) -> str:
    return _files(pattern)[0]


def _with_number_replaced(text: str, line_start: str, value: str) -> tuple[str, int]:
    """TEXT with the first number on the first line starting with LINE_START replaced; and that line's number."""
    lines = text.split("\n")
    index = next(index for index, line in enumerate(lines) if line.lstrip().startswith(line_start))
    lines[index] = re.sub(r"\d+", value, lines[index], count=1)
    return "\n".join(lines), index + 1


@pytest.mark.parametrize("parser, pattern, line_start", [
    (parse_mdstat, "md/mdstat/libstorage-ng_parse5.txt", "md_test :"),
    (parse_mdadm_detail, "md/mdadm/jc_mdadm-query-raid1-faulty.txt", "Array Size :"),
    (parse_mdadm_examine, "md/mdadm/jc_mdadm-examine-raid5-meta09.txt", "Used Dev Size :"),
    (parse_mountinfo, "disks/mountinfo.txt", ""),
    (parse_lvm_metadata_backup, "lvm/xenserver_shrinklvm_real_config.vg.txt", "seqno ="),
], ids=["mdstat", "mdadm-detail", "mdadm-examine", "mountinfo", "lvm-metadata"])
def test_a_number_longer_than_int_accepts_is_a_parse_error_at_its_line(parser, pattern, line_start):
    # Found by fuzzing: int() raised a bare ValueError ("Exceeds the limit (4300 digits)").
    text, number = _with_number_replaced(_first_fixture(pattern), line_start, BIG)
    with pytest.raises(ParseError) as raised:
        parser(text)
    assert raised.value.line_number == number
    assert raised.value.line == text.split("\n")[number - 1]


def test_lvm_report_with_an_overlong_size_is_a_parse_error():
    # Found by fuzzing (parse_lvm_report_json[vgs]): vg_extent_size of 5000 digits.
    text = _lvm_report("vgs")[0]
    changed = re.sub(r'("vg_extent_size":\s*")\d+', lambda found: found.group(1) + BIG, text, count=1)
    assert changed != text
    with pytest.raises(ParseError) as raised:
        parse_lvm_report_json(changed, "vgs")
    assert BIG in raised.value.line


@pytest.mark.parametrize("value", ["101376 (1.2.3 MiB 103.81 MB)", BIG, BIG + " sectors"])
def test_examine_size_that_is_not_a_size_is_unknown(value):
    # Found by fuzzing: float("1.2.3") and int() of 5000 digits raised ValueError.
    assert examine_size_bytes(value, "1.2") is None or value.startswith("101376")
    assert examine_size_bytes(value, "0.90") is None or value.startswith("101376")


@pytest.mark.parametrize("parser", [parse_wipefs_json, parse_blkid_json, parse_sfdisk_json, parse_lsblk_json])
@pytest.mark.parametrize("text, number, line", [("{\n", 2, ""), ("{", 1, "{")])
def test_invalid_json_names_the_line_even_at_the_end_of_the_text(parser, text, number, line):
    # Found by fuzzing: the error gave a line number but None for the line ("at line 2: None").
    with pytest.raises(ParseError) as raised:
        parser(text)
    assert (raised.value.line_number, raised.value.line) == (number, line)


def test_mountinfo_ids_must_be_decimal_digits():
    # "²" passes str.isdigit() but int() refuses it: a ValueError before the fix.
    line = _first_fixture("disks/mountinfo.txt").split("\n")[0]
    text = "\u00b2 " + line.split(" ", 1)[1]
    with pytest.raises(ParseError) as raised:
        parse_mountinfo(text)
    assert raised.value.line_number == 1


def test_json_integer_written_with_superscript_digits_is_a_parse_error():
    # "²" passes str.isdigit() but int() refuses it: a ValueError before the fix.
    text = _files("signatures/sfdisk/*.json")[0]
    changed = re.sub(r'("start":\s*)\d+', lambda found: found.group(1) + '"\u00b2"', text, count=1)
    assert changed != text
    with pytest.raises(ParseError):
        parse_sfdisk_json(changed)
