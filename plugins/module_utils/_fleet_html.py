# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: the fleet report as one self-contained HTML file.

Rendered from the fleet summary (the same data as fleet-summary.txt and .json): hosts worst
first, each with its findings and its arrays' serial-to-slot maps, the replacement list, and
what to do about each finding code, quoted from docs/findings.md. Style and script are inline
and nothing is fetched, so the file can be mailed, archived or opened on a machine without
network. The filters are a few lines of script; without script every row is simply shown.
"""

from __future__ import annotations

import html

from ansible_collections.lifeline.storage.plugins.module_utils._finding_advice import markdown_inline_to_html

_SEVERITIES = ("critical", "warning", "info")

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#1b1b1b;background:#fff}
h1{font-size:1.4em}h2{font-size:1.15em;margin:0}h3{font-size:1em;margin:.8em 0 .3em}
table{border-collapse:collapse;margin:.3em 0 .8em}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}
th{background:#f0f0f0}code{font-size:.92em}
.badge{display:inline-block;padding:0 .5em;border-radius:.3em;font-weight:bold;color:#fff;background:#777}
.critical{background:#b00020}.warning{background:#b36b00}.info{background:#2a6bb0}.ok{background:#2e7d32}.unknown{background:#555}
.failing{background:#b00020}.watch{background:#b36b00}.healthy{background:#2e7d32}.missing{background:#b00020}
section.host{border:1px solid #ddd;border-radius:.4em;padding:.6em .9em;margin:.7em 0}
ul.findings{padding-left:1.2em}li.finding{margin:.25em 0}
#filters{position:sticky;top:0;background:#fafafa;border:1px solid #ddd;padding:.5em;z-index:1}
#filters label{margin-right:1em}.hidden{display:none}
"""

# Hides findings whose severity is unchecked or whose code is not the chosen one, and hosts
# left with nothing to show once a filter is on.
_SCRIPT = """
(function(){
  function apply(){
    var shown={};document.querySelectorAll('#filters input[data-severity]').forEach(function(box){shown[box.dataset.severity]=box.checked;});
    var code=document.getElementById('code-filter').value;
    var hostsShown=0;
    document.querySelectorAll('section.host').forEach(function(host){
      var visible=0;
      host.querySelectorAll('li.finding').forEach(function(item){
        var on=shown[item.dataset.severity]!==false&&(!code||item.dataset.code===code);
        item.classList.toggle('hidden',!on);if(on){visible++;}
      });
      var statusOn=shown[host.dataset.status]!==false;
      var keep=code?visible>0:(statusOn||visible>0);
      host.classList.toggle('hidden',!keep);if(keep){hostsShown++;}
    });
    document.getElementById('hosts-shown').textContent=hostsShown;
    var keep=document.getElementById('show-keep').checked;
    document.querySelectorAll('tr.replacement[data-action="keep"]').forEach(function(row){row.classList.toggle('hidden',!keep);});
  }
  document.querySelectorAll('#filters input, #filters select').forEach(function(el){el.addEventListener('change',apply);});
  apply();
})();
"""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _badge(word: str) -> str:
    return '<span class="badge %s">%s</span>' % (_e(word), _e(word))


def _finding_item(finding: dict, advice: dict[str, dict]) -> str:
    code = finding.get("code") or ""
    link = ' <a href="#advice-%s">what to do</a>' % _e(code) if code in advice else ""
    return ('<li class="finding" data-severity="%s" data-code="%s">%s <code>%s</code> %s: %s%s</li>'
            % (_e(finding.get("severity")), _e(code), _badge(finding.get("severity") or "unknown"), _e(code),
               _e(finding.get("subject")), _e(finding.get("message")), link))


def _array_table(array: dict) -> str:
    sync = array.get("sync_action") or "unknown"
    if array.get("sync_percent") is not None:
        sync += " %s %%" % array["sync_percent"]
    rows = "".join(
        '<tr class="member" data-serial="%s"><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>'
        % (_e(slot.get("serial")), _e(slot.get("slot")), _e(slot.get("serial") or "-"), _e(slot.get("device") or "-"),
           _badge("missing") if slot.get("role") == "missing" else _e(slot.get("role")), _e(", ".join(slot.get("state") or [])))
        for slot in array.get("slots") or [])
    return ('<h3 class="array" data-array="%s">%s (%s): %s, %s of %s slots degraded, sync %s, mismatch_cnt %s</h3>'
            '<table><tr><th>slot</th><th>serial</th><th>device</th><th>role</th><th>state</th></tr>%s</table>'
            % (_e(array.get("name")), _e(array.get("device")), _e(array.get("level")), _e(array.get("array_state") or array.get("state")),
               _e(array.get("degraded")), _e(array.get("raid_disks")), _e(sync), _e(array.get("mismatch_cnt")), rows))


def _host_section(host: dict, advice: dict[str, dict]) -> str:
    counts = host.get("counts") or {}
    codes = sorted({f.get("code") or "" for f in host.get("findings") or []})
    parts = ['<section class="host" id="host-%s" data-host="%s" data-status="%s" data-codes="%s">'
             % (_e(host["host"]), _e(host["host"]), _e(host["status"]), _e(" ".join(codes)))]
    summary = host.get("reason") or ", ".join("%s %s" % (counts.get(s, 0), s) for s in _SEVERITIES)
    parts.append('<h2>%s %s <span class="counts">%s</span></h2>' % (_badge(host["status"]), _e(host["host"]), _e(summary)))
    health = host.get("disk_health")
    if health:
        by_status = ", ".join("%s %s" % (_e(health.get(status, 0)), _e(status)) for status in ("failing", "watch", "healthy", "unknown"))
        parts.append("<p>Disks by SMART health: %s</p>" % by_status)
    if host.get("findings"):
        parts.append('<ul class="findings">%s</ul>' % "".join(_finding_item(f, advice) for f in host["findings"]))
    for array in host.get("arrays") or []:
        parts.append(_array_table(array))
    parts.append("</section>")
    return "".join(parts)


def _replacement_table(entries: list[dict]) -> str:
    rows = []
    for entry in entries:
        name = entry.get("serial") or ("empty slot %s of %s" % (entry.get("slot"), ", ".join(entry.get("arrays") or [])))
        rows.append('<tr class="replacement" data-action="%s"><td>%s</td><td><a href="#host-%s">%s</a></td><td>%s</td><td>%s</td>'
                    '<td>%s</td><td>%s</td><td><ul>%s</ul></td></tr>'
                    % (_e(entry.get("action")), _e(entry.get("rank")), _e(entry.get("host")), _e(entry.get("host")), _e(name),
                       _e(entry.get("device") or "-"), _e((entry.get("action") or "").replace("_", " ")),
                       _badge(entry.get("health") or "unknown"), "".join("<li>%s</li>" % _e(r) for r in entry.get("reasons") or [])))
    return ('<table id="replacement-list"><tr><th>rank</th><th>host</th><th>disk</th><th>device</th><th>action</th><th>health</th>'
            "<th>why</th></tr>%s</table>" % "".join(rows))


def _advice_section(codes: list[str], advice: dict[str, dict]) -> str:
    rows = "".join('<tr id="advice-%s"><td><code>%s</code></td><td>%s</td><td>%s</td><td>%s</td></tr>'
                   % (_e(code), _e(code), markdown_inline_to_html(advice[code]["severity"]),
                      markdown_inline_to_html(advice[code]["when"]), markdown_inline_to_html(advice[code]["what_to_do"]))
                   for code in codes if code in advice)
    return ('<h2 id="advice">What to do, by finding code (from docs/findings.md)</h2>'
            "<table><tr><th>code</th><th>severity</th><th>when</th><th>what to do</th></tr>%s</table>" % rows)


def render_fleet_html(summary: dict, advice: dict[str, dict], generated_at: str) -> str:
    """The whole report. ADVICE maps finding codes to their docs/findings.md row (may be empty)."""
    totals = summary.get("totals") or {}
    hosts = summary.get("hosts") or []
    codes = sorted({f.get("code") for h in hosts for f in h.get("findings") or [] if f.get("code")})
    severity_boxes = "".join('<label><input type="checkbox" data-severity="%s" checked> %s</label>' % (s, s)
                             for s in _SEVERITIES + ("ok", "unknown"))
    code_options = '<option value="">every code</option>' + "".join('<option value="%s">%s</option>' % (_e(c), _e(c)) for c in codes)
    replacement = summary.get("replacement") or []
    to_act = sum(1 for entry in replacement if entry.get("action") != "keep")
    return "".join([
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>lifeline.storage fleet report</title><style>%s</style></head><body>" % _STYLE,
        "<h1>lifeline.storage fleet report</h1>",
        '<p id="totals">Generated %s. <span id="host-count">%s</span> %s, worst first; findings: '
        '<span id="total-critical">%s</span> critical, <span id="total-warning">%s</span> warning, '
        '<span id="total-info">%s</span> info. Hosts without facts: %s.</p>'
        % (_e(generated_at), _e(summary.get("host_count")), "host" if summary.get("host_count") == 1 else "hosts",
           _e(totals.get("critical", 0)), _e(totals.get("warning", 0)),
           _e(totals.get("info", 0)), _e(", ".join(summary.get("hosts_without_facts") or []) or "none")),
        '<div id="filters">Show severities: %s Finding code: <select id="code-filter">%s</select> '
        '(hosts shown: <span id="hosts-shown">%s</span>) <label><input type="checkbox" id="show-keep"> healthy disks in the '
        'replacement list</label></div>' % (severity_boxes, code_options, len(hosts)),
        '<h2 id="replacement">Replacement list: %s disks, %s to act on, most urgent first</h2>' % (len(replacement), to_act),
        _replacement_table(replacement),
        '<h2 id="hosts">Hosts</h2>',
        "".join(_host_section(host, advice) for host in hosts),
        _advice_section(codes, advice),
        "<script>%s</script></body></html>\n" % _SCRIPT,
    ])
