# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: can this host start an md array without an operator asking?

Three mechanisms start arrays on their own:

- udev incremental assembly: mdadm's udev rules run `mdadm --incremental` for every block device
  that carries an md superblock, when it appears (boot, hotplug, `udevadm trigger`). The rules
  file is 64-md-raid-assembly.rules (Debian, upstream) or 65-md-incremental.rules (Red Hat,
  SUSE); a file of the same name in /etc/udev/rules.d overrides it, and a link to /dev/null
  there disables it.
- mdadm's last-resort timer: when incremental assembly has found some members but not all, the
  same rules ask systemd for mdadm-last-resort@mdX.timer, which 30 seconds later runs
  `mdadm --run /dev/mdX` and starts the array degraded.
- in-kernel autodetection, at boot only, of 0.90 superblocks on partitions of type fd, in
  kernels with md built in (not a module); `raid=noautodetect` turns it off.

What incremental assembly takes is limited by mdadm.conf: ARRAY lines (an array listed there is
assembled whatever AUTO says, `<ignore>` never), then the first AUTO line. Everything here only
reads files; an unreadable file makes the answer unknown (None), never "no".
"""

from __future__ import annotations

import posixpath
import re

from ansible_collections.lifeline.storage.plugins.module_utils._errors import ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._mdadm_conf_parse import parse_mdadm_examine_scan

# udev reads rules from these directories; a file name in an earlier one replaces the same name
# in a later one (udev(7)). /lib/udev is where Debian's packages install them.
UDEV_RULES_DIRS = ("/etc/udev/rules.d", "/run/udev/rules.d", "/usr/local/lib/udev/rules.d", "/usr/lib/udev/rules.d",
                   "/lib/udev/rules.d")
# 64-md-raid-assembly.rules: upstream mdadm and Debian's package; 65-md-incremental.rules: the
# name Red Hat and SUSE packages use for the same job.
ASSEMBLY_RULES = ("64-md-raid-assembly.rules", "65-md-incremental.rules")
# systemd's unit search path, highest precedence first (systemd.unit(5)), as far as unit files
# that a package or an administrator installs go.
UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system", "/usr/lib/systemd/system",
             "/lib/systemd/system")
LAST_RESORT_UNITS = ("mdadm-last-resort@.timer", "mdadm-last-resort@.service")
# Debian builds mdadm to read /etc/mdadm/mdadm.conf first and /etc/mdadm.conf only when the first
# is missing; upstream's default build reads them the other way round.
MDADM_CONFS = (("/etc/mdadm/mdadm.conf", "/etc/mdadm/mdadm.conf.d"), ("/etc/mdadm.conf", "/etc/mdadm.conf.d"))
CMDLINE = "/proc/cmdline"
MD_MODULE = "/sys/module/md_mod"
MODPROBE_DIRS = ("/etc/modprobe.d", "/run/modprobe.d", "/usr/lib/modprobe.d", "/lib/modprobe.d")
INITRAMFS_SCRIPT = "/usr/share/initramfs-tools/scripts/local-block/mdadm"
SYSTEMD_BOOTED = "/run/systemd/system"

METADATA_KINDS = ("0.90", "1.x", "ddf", "imsm")

_UNCONDITIONAL_GOTO_RE = re.compile(r'^GOTO\s*=\s*"(?P<label>[^"]+)"\s*,?\s*$')
_LABEL_RE = re.compile(r'^LABEL\s*=\s*"(?P<label>[^"]+)"\s*,?\s*$')
_GOTO_RE = re.compile(r'(?:^|[\s,])GOTO\s*=\s*"(?P<label>[^"]+)"')
# `mdadm --incremental` or `mdadm -I` (but not `-If`, which removes a device again).
_INCREMENTAL_RE = re.compile(r"mdadm\b[^\"]*?\s(?:--incremental|-I)(?![A-Za-z])")
_REMOVE_ONLY_RE = re.compile(r'ACTION\s*==\s*"remove"')
_CMDLINE_WORDS = ("raid=noautodetect", "rd.md=0", "rd.md", "rd.auto", "rd.auto=1", "rd.md.conf=0", "nodmraid",
                  "noiswmd")
_CMDLINE_PREFIXES = ("md=", "rd.md.uuid=", "raid=")


def _evidence(source: str, detail: str, line: str | None = None) -> dict:
    return {"source": source, "line": line, "detail": detail}


def _read(files, path: str, evidence: list[dict]) -> str | None:
    """The text of PATH; None (with the reason in EVIDENCE) when it exists but cannot be read."""
    try:
        return files.read_text(path)
    except OSError as error:
        evidence.append(_evidence(path, "exists but cannot be read (%s): its effect is unknown"
                                  % (getattr(error, "strerror", None) or error)))
        return None


def _is_masked(files, path: str) -> bool | None:
    """A link to /dev/null or an empty file: how udev and systemd let an administrator switch a file off."""
    target = files.read_link(path)
    if target is not None and posixpath.normpath(posixpath.join(posixpath.dirname(path), target)) == "/dev/null":
        return True
    try:
        return not files.read_text(path).strip()
    except OSError:
        return None


def _winning_file(files, dirs: tuple[str, ...], name: str) -> str | None:
    for directory in dirs:
        path = posixpath.join(directory, name)
        if files.exists(path) or files.read_link(path) is not None:
            return path
    return None


# ---------------------------------------------------------------------------------------------
# udev rules
# ---------------------------------------------------------------------------------------------

def reached_rule_lines(text: str) -> list[tuple[int, str]]:
    """The rule lines udev can reach, with their numbers.

    A rule that is only `GOTO="x"` always jumps to `LABEL="x"`; a rule with match keys and a GOTO
    may jump or fall through. Debian once switched incremental assembly off with one such
    unconditional GOTO after `LABEL="md_inc"` (bug #784070), keeping the rules file.
    """
    rules: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line and not line.startswith("#"):
            rules.append((number, line))
    labels = {}
    for index, (_number, line) in enumerate(rules):
        label = _LABEL_RE.match(line)
        if label:
            labels.setdefault(label.group("label"), index)
    reached: set[int] = set()
    pending = [0] if rules else []
    while pending:
        index = pending.pop()
        if index in reached or index >= len(rules):
            continue
        reached.add(index)
        line = rules[index][1]
        jump = _GOTO_RE.search(line)
        if jump and jump.group("label") in labels:
            pending.append(labels[jump.group("label")])
        if not _UNCONDITIONAL_GOTO_RE.match(line):
            pending.append(index + 1)
    return [rules[index] for index in sorted(reached)]


def _udev_assembly(files, evidence: list[dict]) -> tuple[bool | None, bool | None, list[str]]:
    """(incremental assembly on?, does it ask for the last-resort timer?, the rules files that decide)."""
    answers: list[bool | None] = []
    asks_timer: list[bool | None] = []
    paths: list[str] = []
    for name in ASSEMBLY_RULES:
        path = _winning_file(files, UDEV_RULES_DIRS, name)
        if path is None:
            continue
        paths.append(path)
        masked = _is_masked(files, path)
        if masked:
            evidence.append(_evidence(path, "%s is switched off (a link to /dev/null or an empty file)" % name))
            answers.append(False)
            asks_timer.append(False)
            continue
        text = _read(files, path, evidence)
        if text is None:
            answers.append(None)
            asks_timer.append(None)
            continue
        lines = reached_rule_lines(text)
        incremental = [(n, line) for n, line in lines if _INCREMENTAL_RE.search(line) and not _REMOVE_ONLY_RE.search(line)]
        timer = [(n, line) for n, line in lines if "mdadm-last-resort@" in line]
        if incremental:
            number, line = incremental[0]
            evidence.append(_evidence(path, "line %d runs mdadm's incremental assembly for every md member that appears"
                                      % number, line))
        else:
            evidence.append(_evidence(path, "no reachable rule runs mdadm --incremental"))
        if timer:
            number, line = timer[0]
            evidence.append(_evidence(path, "line %d asks systemd for mdadm's last-resort timer when an array is "
                                      "incomplete" % number, line))
        answers.append(bool(incremental))
        asks_timer.append(bool(timer))
    if not paths:
        evidence.append(_evidence(", ".join(UDEV_RULES_DIRS), "none of %s exists: udev does not assemble md arrays"
                                  % ", ".join(ASSEMBLY_RULES)))
        return False, False, paths
    return _any(answers), _any(asks_timer), paths


def _any(values: list[bool | None]) -> bool | None:
    """True if any is True; else unknown if any is unknown; else False."""
    if any(value is True for value in values):
        return True
    if any(value is None for value in values):
        return None
    return False


def _last_resort(files, incremental: bool | None, asks_timer: bool | None, evidence: list[dict]) -> bool | None:
    if incremental is False or asks_timer is False:
        return False
    if not files.exists(SYSTEMD_BOOTED):
        evidence.append(_evidence(SYSTEMD_BOOTED, "absent: the host was not booted with systemd, which is what runs "
                                  "the last-resort timer"))
        return False
    states: list[bool | None] = []
    for name in LAST_RESORT_UNITS:
        path = _winning_file(files, UNIT_DIRS, name)
        if path is None:
            evidence.append(_evidence(", ".join(UNIT_DIRS), "no %s unit file" % name))
            states.append(False)
            continue
        masked = _is_masked(files, path)
        if masked is None:
            evidence.append(_evidence(path, "cannot be read: whether it is masked is unknown"))
        elif masked:
            evidence.append(_evidence(path, "masked (a link to /dev/null or an empty file)"))
        else:
            evidence.append(_evidence(path, "present: 30 s after an incomplete incremental assembly it starts the "
                                      "array degraded" if name.endswith(".timer") else "present"))
        states.append(None if masked is None else not masked)
    if all(state is True for state in states) and incremental is True and asks_timer is True:
        return True
    if any(state is False for state in states):
        return False
    return None


# ---------------------------------------------------------------------------------------------
# mdadm.conf
# ---------------------------------------------------------------------------------------------

def _statements(text: str) -> list[tuple[int, list[str], str]]:
    """(line number, words, text) of each statement; a line starting with a blank continues the last."""
    statements: list[tuple[int, list[str], str]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        if raw[:1].isspace() and statements:
            statements[-1][1].extend(words)
            continue
        statements.append((number, words, raw.strip()))
    return statements


def _keyword(word: str, keyword: str) -> bool:
    # mdadm.conf(5): keywords are case-insensitive and may be shortened to three letters.
    return len(word) >= 3 and keyword.startswith(word.lower())


def auto_policy(words: list[str], metadata: str) -> str:
    """What an AUTO line says for one metadata kind: "yes", "no" or "homehost" (mdadm.conf(5), AUTO).

    Words are read in order and the first that names the kind (or `all`) wins; `homehost` before
    it turns a minus into "only arrays made for this host". No match means yes.
    """
    homehost = False
    for word in words:
        lowered = word.lower()
        if lowered == "yes":
            return "yes"
        if lowered == "no":
            return "homehost" if homehost else "no"
        if lowered == "homehost":
            homehost = True
            continue
        if lowered[:1] not in "+-" or len(lowered) < 2:
            continue
        value = "yes" if lowered[0] == "+" else ("homehost" if homehost else "no")
        name = lowered[1:]
        if name == "all" or _names_metadata(name, metadata):
            return value
    return "yes"


def _names_metadata(name: str, metadata: str) -> bool:
    if name == metadata:
        return True
    # As mdadm reads it: "1" means 1.x and "0" means 0.90; any "1.N" means 1.x.
    if len(name) == 1 and metadata[1:2] == "." and name == metadata[0]:
        return True
    return metadata == "1.x" and name.startswith("1.")


def metadata_kind(version: str | None) -> str | None:
    """The kind AUTO lines name, from a superblock version ("1.2" -> "1.x", "0.90.00" -> "0.90")."""
    if not version:
        return None
    lowered = version.lower()
    if lowered.startswith("1."):
        return "1.x"
    if lowered.startswith("0.9"):
        return "0.90"
    if lowered in ("ddf", "imsm"):
        return lowered
    return None


def _hex_uuid(text: str | None) -> str | None:
    digits = re.sub(r"[^0-9a-f]", "", (text or "").lower())
    return digits if len(digits) == 32 else None


def _conf_texts(files, conf: str, conf_dir: str, evidence: list[dict]) -> list[tuple[str, str]] | None:
    """(path, text) of the file and of the *.conf files in its directory, in the order mdadm reads them."""
    texts = []
    for path in [conf] + [posixpath.join(conf_dir, name) for name in files.list_dir(conf_dir) if name.endswith(".conf")
                          and not name.startswith(".") and len(name) >= 6]:
        if not files.exists(path):
            continue
        text = _read(files, path, evidence)
        if text is None:
            return None
        texts.append((path, text))
    return texts


def _conf_verdict(texts: list[tuple[str, str]], target: dict, evidence: list[dict]) -> tuple[bool | None, str | None]:
    """(would incremental assembly take the target array?, the AUTO line's words)."""
    auto: tuple[str, int, list[str], str] | None = None
    restricting_devices = []
    listed: list[tuple[str, dict]] = []
    for path, text in texts:
        for number, words, line in _statements(text):
            if _keyword(words[0], "auto") and auto is None:
                # Only the first AUTO line counts; mdadm ignores the others silently.
                auto = (path, number, words[1:], line)
            elif _keyword(words[0], "devices") and not any(word.lower() == "partitions" for word in words[1:]):
                restricting_devices.append((path, number, line))
        try:
            entries = parse_mdadm_examine_scan(text)
        except ParseError as error:
            evidence.append(_evidence(path, "cannot be read as mdadm.conf: %s" % error))
            return None, None
        listed.extend((path, entry) for entry in entries)
    auto_words = " ".join(auto[2]) if auto else None
    if auto:
        evidence.append(_evidence(auto[0], "line %d: AUTO %s" % (auto[1], auto_words), auto[3]))
    uuid = _hex_uuid(target.get("uuid"))
    matches = [(path, entry) for path, entry in listed if uuid and _hex_uuid(entry.get("uuid")) == uuid]
    if matches:
        path, entry = matches[0]
        if (entry.get("device") or "").lower() == "<ignore>":
            evidence.append(_evidence(path, "an ARRAY line marks this array <ignore>: mdadm never assembles it on its own"))
            return False, auto_words
        evidence.append(_evidence(path, "an ARRAY line lists this array (%s): mdadm assembles it whatever AUTO says"
                                  % (entry.get("device") or "no device name")))
        return True, auto_words
    if restricting_devices:
        path, number, line = restricting_devices[0]
        evidence.append(_evidence(path, "line %d: a DEVICE line without 'partitions' limits which devices mdadm "
                                  "takes; whether it covers this array's members is not evaluated" % number, line))
        return None, auto_words
    if auto is None:
        evidence.append(_evidence(texts[0][0] if texts else "mdadm.conf", "no AUTO line: mdadm auto-assembles every "
                                  "metadata kind"))
        return True, None
    kind = metadata_kind(target.get("metadata"))
    kinds = [kind] if kind else list(METADATA_KINDS)
    policies = {auto_policy(auto[2], name) for name in kinds}
    if policies == {"yes"}:
        return True, auto_words
    if policies == {"no"}:
        return False, auto_words
    if policies == {"homehost"} and target.get("local") is not None:
        return bool(target["local"]), auto_words
    return None, auto_words


def _mdadm_conf(files, target: dict, evidence: list[dict]) -> tuple[str | None, bool | None, str | None]:
    """(the config file mdadm reads, would it let incremental assembly take the target, AUTO words)."""
    present = [(conf, conf_dir) for conf, conf_dir in MDADM_CONFS if files.exists(conf)]
    if not present:
        evidence.append(_evidence(" and ".join(pair[0] for pair in MDADM_CONFS), "no mdadm.conf: mdadm auto-assembles "
                                  "every metadata kind"))
        return None, True, None
    verdicts = []
    for conf, conf_dir in present:
        texts = _conf_texts(files, conf, conf_dir, evidence)
        verdicts.append((conf, *(_conf_verdict(texts, target, evidence) if texts is not None else (None, None))))
    if len(verdicts) > 1:
        evidence.append(_evidence(" and ".join(verdict[0] for verdict in verdicts), "both exist: Debian's mdadm reads "
                                  "%s, other builds %s" % (MDADM_CONFS[0][0], MDADM_CONFS[1][0])))
        if len({verdict[1:] for verdict in verdicts}) > 1:
            return verdicts[0][0], None, None
    return verdicts[0]


# ---------------------------------------------------------------------------------------------
# kernel
# ---------------------------------------------------------------------------------------------

def _cmdline(files, evidence: list[dict]) -> list[str]:
    text = files.read_optional(CMDLINE)
    if text is None:
        evidence.append(_evidence(CMDLINE, "cannot be read: boot parameters for md are unknown"))
        return []
    words = [word for word in text.split() if word in _CMDLINE_WORDS or word.startswith(_CMDLINE_PREFIXES)]
    for word in words:
        evidence.append(_evidence(CMDLINE, "boot parameter %s" % word, text))
    return words


def _kernel_autodetect(files, cmdline: list[str], target: dict, evidence: list[dict]) -> bool | None:
    if "raid=noautodetect" in cmdline:
        return False
    kind = metadata_kind(target.get("metadata"))
    if kind is not None and kind != "0.90":
        evidence.append(_evidence("md", "the kernel autodetects only 0.90 superblocks; this array has %s" % kind))
        return False
    if not files.exists(MD_MODULE) or files.exists(posixpath.join(MD_MODULE, "initstate")):
        # Autodetection lives in the kernel's boot code, which a loadable md module does not have.
        evidence.append(_evidence(MD_MODULE, "md is a loadable module: no in-kernel autodetection at boot"))
        return False
    evidence.append(_evidence(MD_MODULE, "md is built into the kernel: 0.90 members on type-fd partitions are "
                              "autodetected at boot if the kernel was built with CONFIG_MD_AUTODETECT"))
    return None


def _start_ro(files, evidence: list[dict]) -> bool | None:
    path = posixpath.join(MD_MODULE, "parameters", "start_ro")
    value = files.read_optional(path)
    if value in ("0", "1"):
        evidence.append(_evidence(path, "arrays that start on their own come up %s" % (
            "auto-read-only (read-write at the first write)" if value == "1" else "read-write")))
        return value == "1"
    for directory in MODPROBE_DIRS:
        for name in files.list_dir(directory):
            path = posixpath.join(directory, name)
            text = files.read_optional(path) if name.endswith(".conf") else None
            for line in (text or "").splitlines():
                if re.match(r"^\s*options\s+md_mod\b.*\bstart_ro=", line):
                    evidence.append(_evidence(path, "sets md's start_ro when the module loads", line.strip()))
    return None


def detect_auto_assembly(files, target: dict | None = None) -> dict:
    """Whether the host can start TARGET (or md arrays in general) on its own, with the evidence.

    TARGET may hold `uuid`, `metadata` (superblock version) and `local` (made for this host).
    `active` is True when udev's incremental assembly is on and mdadm.conf lets it take the array.
    """
    target = target or {}
    evidence: list[dict] = []
    incremental, asks_timer, _paths = _udev_assembly(files, evidence)
    last_resort = _last_resort(files, incremental, asks_timer, evidence)
    conf, conf_allows, auto_words = _mdadm_conf(files, target, evidence)
    cmdline = _cmdline(files, evidence)
    kernel = _kernel_autodetect(files, cmdline, target, evidence)
    start_ro = _start_ro(files, evidence)
    if files.exists(INITRAMFS_SCRIPT):
        evidence.append(_evidence(INITRAMFS_SCRIPT, "at boot, when the root device does not appear, initramfs-tools "
                                  "runs mdadm --assemble --scan --run from here"))
    if incremental is False or conf_allows is False:
        active: bool | None = False
    elif incremental is True and conf_allows is True:
        active = True
    else:
        active = None
    return {
        "active": active,
        "udev_incremental": incremental,
        "last_resort_timer": last_resort,
        "mdadm_conf": conf,
        "mdadm_conf_auto": auto_words,
        "mdadm_conf_allows": conf_allows,
        "kernel_autodetect": kernel,
        "start_ro": start_ro,
        "evidence": evidence,
    }
