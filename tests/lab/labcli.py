# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""lab: the disposable lifeline.storage test guest (see README.md next to this file).

Run through the `lab` script beside it; a thin wrapper over lablib.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
from collections.abc import Callable

from lablib import Lab, LabError


def cmd_build(lab: Lab, args: argparse.Namespace) -> int:
    image = lab.build(force=args.force)
    print(image.directory)
    print(json.dumps(image.build_info(), indent=2))
    return 0


def cmd_prune(lab: Lab, args: argparse.Namespace) -> int:
    for directory in lab.prune_images():
        print(f"removed {directory}")
    return 0


def cmd_up(lab: Lab, args: argparse.Namespace) -> int:
    result = lab.up()
    if not result.already_running:
        print(f"seconds_to_ssh={result.seconds_to_ssh:.1f}")
    print(f"inventory: {lab.inventory}")
    return 0


def cmd_down(lab: Lab, args: argparse.Namespace) -> int:
    if not lab.down():
        print("lab: guest was not running", file=sys.stderr)
    return 0


def cmd_reset(lab: Lab, args: argparse.Namespace) -> int:
    result = lab.reset()
    print(f"seconds_to_ssh={result.seconds_to_ssh:.1f}")
    return 0


def cmd_status(lab: Lab, args: argparse.Namespace) -> int:
    status = lab.status()
    print(json.dumps(status, indent=2))
    return 0 if status["running"] else 3


def cmd_ssh(lab: Lab, args: argparse.Namespace) -> int:
    if not lab.ssh_config.is_file() or not lab.is_running():
        raise LabError("the lab guest is not running (run `tests/lab/lab up`)")
    words = args.command[1:] if args.command[:1] == ["--"] else args.command
    # Joined with spaces, as ssh itself does: `lab ssh 'a; b'` and `lab ssh cat /proc/mdstat` both work.
    command = " ".join(words) if words else None
    argv = lab.ssh_argv(command, batch=command is not None)
    os.execvp(argv[0], argv)  # ssh's exit code becomes ours


def cmd_inventory(lab: Lab, args: argparse.Namespace) -> int:
    print(lab.inventory)
    return 0


def cmd_env(lab: Lab, args: argparse.Namespace) -> int:
    exports = {
        "LIFELINE_LAB_STATE": lab.state_dir,
        "LIFELINE_LAB_INVENTORY": lab.inventory,
        "LIFELINE_LAB_SSH_CONFIG": lab.ssh_config,
        "LIFELINE_LAB_SSH_KEY": lab.private_key,
        "LIFELINE_LAB_QMP": lab.qmp_socket,
        "LIFELINE_LAB_CONSOLE": lab.console_log,
        "LIFELINE_LAB_DISKS": lab.disks_file,
        "LIFELINE_LAB_SSH_PORT": lab.config.ssh_port,
        "LIFELINE_LAB_INITRD_PORT": lab.config.initrd_ssh_port,
        "LIFELINE_LAB_IMAGE": lab.image().directory,
    }
    for name, value in exports.items():
        print(f"export {name}={shlex.quote(str(value))}")
    return 0


def cmd_qmp(lab: Lab, args: argparse.Namespace) -> int:
    text = args.message.strip()
    # A bare command name is accepted too: `lab qmp query-status`.
    message = json.loads(text) if text.startswith("{") else {"execute": text}
    reply = lab.qmp_raw(message)
    print(json.dumps(reply, indent=2))
    return 1 if "error" in reply else 0


def cmd_unplug(lab: Lab, args: argparse.Namespace) -> int:
    lab.unplug(args.device_id)
    return 0


def cmd_replug(lab: Lab, args: argparse.Namespace) -> int:
    lab.replug(args.device_id, wait=not args.no_wait)
    return 0


def cmd_link(lab: Lab, args: argparse.Namespace) -> int:
    lab.set_link(args.state == "on")
    return 0


def cmd_reboot_from_guest(lab: Lab, args: argparse.Namespace) -> int:
    pid = lab.reboot_from_guest(link_up=args.link == "on", extra_command_line=args.append)
    print(f"pid={pid}")
    return 0


def cmd_disks(lab: Lab, args: argparse.Namespace) -> int:
    print(json.dumps(lab.disks(), indent=2))
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="lab", description="The disposable lifeline.storage test guest "
                                  "(tests/lab/README.md).")
    sub = top.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")
    build = sub.add_parser("build", help="build the guest image unless it is cached")
    build.add_argument("--force", action="store_true", help="rebuild even if cached")
    build.set_defaults(run=cmd_build)
    sub.add_parser("prune", help="delete cached images of other builder versions").set_defaults(run=cmd_prune)
    sub.add_parser("up", help="start the guest (builds first if needed)").set_defaults(run=cmd_up)
    sub.add_parser("down", help="stop the guest, drop its overlay and data disks").set_defaults(run=cmd_down)
    sub.add_parser("reset", help="down + up: a clean guest, blank data disks").set_defaults(run=cmd_reset)
    sub.add_parser("status", help="is the guest running (exit 3 if not)").set_defaults(run=cmd_status)
    ssh = sub.add_parser("ssh", help="ssh into the guest; with a command, run it and pass its exit code")
    ssh.add_argument("command", nargs=argparse.REMAINDER)
    ssh.set_defaults(run=cmd_ssh)
    sub.add_parser("inventory", help="print the Ansible inventory path").set_defaults(run=cmd_inventory)
    sub.add_parser("env", help="print shell exports of the lab's paths").set_defaults(run=cmd_env)
    sub.add_parser("disks", help="print the data disks (as disks.json)").set_defaults(run=cmd_disks)
    qmp = sub.add_parser("qmp", help="send one QMP command (JSON or a bare command name), print the reply")
    qmp.add_argument("message")
    qmp.set_defaults(run=cmd_qmp)
    unplug = sub.add_parser("unplug", help="hot-unplug a data disk (vd1..vd4, nvme1)")
    unplug.add_argument("device_id")
    unplug.set_defaults(run=cmd_unplug)
    replug = sub.add_parser("replug", help="plug an unplugged data disk back in")
    replug.add_argument("device_id")
    replug.add_argument("--no-wait", action="store_true", help="do not wait for its by-id link in the guest")
    replug.set_defaults(run=cmd_replug)
    reboot = sub.add_parser("reboot-from-guest", help="boot again from the guest's own /vmlinuz and /initrd.img, "
                            "disks kept; returns without waiting for SSH")
    reboot.add_argument("--link", choices=("on", "off"), default="on",
                        help="start with the network link up (default) or down (`lab link on` restores it)")
    reboot.add_argument("--append", default="", help="extra kernel command line words")
    reboot.set_defaults(run=cmd_reboot_from_guest)
    link = sub.add_parser("link", help="cut or restore the guest's network")
    link.add_argument("state", choices=("off", "on"))
    link.set_defaults(run=cmd_link)
    return top


def exit_on_sigterm(signum: int, frame: object) -> None:
    # As SystemExit, so a killed build still removes its temp dir (cleanup runs in `finally`).
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    # After `ssh`, every word is the guest's command, even one that starts with a dash.
    args = argparse.Namespace(run=cmd_ssh, command=argv[1:]) if argv[:1] == ["ssh"] else parser().parse_args(argv)
    run: Callable[[Lab, argparse.Namespace], int] = args.run
    try:
        return run(Lab(), args)
    except LabError as exc:
        print(f"lab: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
