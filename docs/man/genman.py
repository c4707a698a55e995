#!/usr/bin/env python3
"""genman.py - build the generated manual pages from their sources of truth.

  genman.py conf TEMPLATE CUSTODYD_CONF OUTPUT VERSION
      custodyd.conf(5): TEMPLATE with @KEYS@ replaced by every key of the
      documented example configuration (deploy/custodyd.conf, which
      tests/unit/test_config.c keeps equal to the daemon's key table), with
      its default and its comment, under the example's section headings.
  genman.py ctl TEMPLATE CUSTODYCTL OUTPUT VERSION
      custodyctl(1): TEMPLATE with @COMMANDS@ and @EVENT_OPTIONS@ replaced
      by what the built custodyctl prints for `help` and `help COMMAND`.

Generated, not written by hand, so that a key or a command cannot be added
without its manual page saying so. @VERSION@ becomes VERSION in both.
"""
import re
import subprocess
import sys

KEY_LINE = re.compile(r"^#?([a-z][a-z0-9_]*) =\s?(.*)$")
SECTION = re.compile(r"^# -+ (.*?) -+$")


def esc(text):
    """Escapes text for roff: backslashes, hyphens, and a leading control character."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    if text.startswith((".", "'")):
        text = "\\&" + text
    return text


def conf_keys(path):
    """The example config as [(section, [(key, default)], [comment lines])]."""
    entries, section, comment, keys = [], "", [], []
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    # The file's own header (up to the first blank line) is the template's job.
    start = lines.index("") + 1
    for line in lines[start:] + [""]:
        m = KEY_LINE.match(line)
        s = SECTION.match(line)
        if m:
            keys.append((m.group(1), m.group(2)))
            continue
        if keys:
            entries.append((section, keys, comment))
            keys, comment = [], []
        if s:
            section = s.group(1)
        elif line.startswith("#"):
            comment.append(line[1:].strip())
        elif line.strip() == "":
            comment = []
    return entries


def render_conf(path):
    """The KEYS part of custodyd.conf(5) in roff."""
    out, section = [], None
    for sec, keys, comment in conf_keys(path):
        if sec != section:
            section = sec
            out.append('.SS "%s"' % esc(sec[0].upper() + sec[1:]))
        text = " ".join(comment)
        required = "REQUIRED." in text
        for i, (key, value) in enumerate(keys):
            out.append(".TP" if i == 0 else ".TQ")
            if required:
                out.append("\\fB%s\\fR (required), e.g. \\fI%s\\fR" % (esc(key), esc(value)))
            else:
                shown = "\\fI%s\\fR" % esc(value) if value else "(empty)"
                out.append("\\fB%s\\fR = %s" % (esc(key), shown))
        out.append(esc(text.replace(" REQUIRED.", "").replace("REQUIRED.", "").strip()))
    return "\n".join(out)


def run(ctl, *args):
    return subprocess.run([ctl, *args], check=True, capture_output=True, text=True).stdout


def help_commands(ctl):
    """The command names `custodyctl help` lists, in order, each once."""
    names, listing = [], False
    for line in run(ctl, "help").split("\n"):
        if line.startswith(("Commands:", "Custody events")):
            listing = True
        elif not line.strip():
            listing = False
        elif listing:
            name = line.split()[0]
            if name not in names:
                names.append(name)
    return names


def preformatted(lines):
    body = [esc(l) if l.strip() else "" for l in lines]
    while body and not body[-1]:
        body.pop()
    return [".PP", ".nf"] + body + [".fi"] if body else []


def render_ctl(ctl):
    """The COMMANDS part of custodyctl(1) and the shared event options, in roff."""
    out, event_opts = [], []
    for name in help_commands(ctl):
        text = run(ctl, "help", name)
        if "\nEvent options (all event commands):\n" in text:
            text, opts = text.split("\nEvent options (all event commands):\n", 1)
            event_opts = opts.rstrip("\n").split("\n")
        lines = text.rstrip("\n").split("\n")
        usage = []
        while lines and lines[0].strip():
            usage.append(lines.pop(0))
        out.append('.SS "%s"' % esc(name))
        out.append(".nf")
        for u in usage:
            u = re.sub(r"^usage: custodyctl ", "", u).strip()
            if u != name and not u.startswith(name + " "):
                out.append("    " + esc(u))  # continues the line above
                continue
            rest = u[len(name):]
            out.append("\\fBcustodyctl %s\\fR%s" % (esc(name), esc(rest)))
        out.append(".fi")
        while lines and not lines[0].strip():
            lines.pop(0)
        if lines:
            out.append(esc(lines.pop(0)))
        out += preformatted(lines)
    return "\n".join(out), "\n".join(preformatted(event_opts))


def main(argv):
    if len(argv) != 6 or argv[1] not in ("conf", "ctl"):
        sys.exit(__doc__)
    mode, template, source, output, version = argv[1:]
    with open(template, encoding="utf-8") as f:
        page = f.read().replace("@VERSION@", version)
    if mode == "conf":
        page = page.replace("@KEYS@", render_conf(source))
    else:
        commands, event_opts = render_ctl(source)
        page = page.replace("@COMMANDS@", commands).replace("@EVENT_OPTIONS@", event_opts)
    with open(output, "w", encoding="utf-8") as f:
        f.write(page)


if __name__ == "__main__":
    main(sys.argv)
