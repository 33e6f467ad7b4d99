# shellcheck shell=bash
# Sourced by tests/lab/install-deps and tests/tools/bootstrap: apt-get that waits for the dpkg
# lock instead of failing at once (rc 100) while another apt runs, and names who holds it when
# the wait runs out. Dependency-free: the holders are read from /proc.
# LIFELINE_APT_LOCK_TIMEOUT: seconds each apt-get call waits for a lock (default 300).

# The locks apt and dpkg take: the frontend lock, dpkg's own, the package cache's and the lists'.
apt_lock_files=(/var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/cache/apt/archives/lock /var/lib/apt/lists/lock)

# Prints "PID (COMMAND LINE) holds FILE" for each process with one of the lock files open.
apt_lock_holders() {
  local fd target pid lock found=0
  for fd in /proc/[0-9]*/fd/*; do
    target=$(readlink "$fd" 2>/dev/null) || continue
    for lock in "${apt_lock_files[@]}"; do
      if [ "$target" = "$lock" ]; then
        pid=${fd#/proc/}
        pid=${pid%%/*}
        echo "  pid $pid ($(tr '\0\n' '  ' <"/proc/$pid/cmdline" 2>/dev/null | sed 's/ $//')) holds $lock"
        found=1
      fi
    done
  done
  [ "$found" = 1 ] || echo "  no process holds an apt or dpkg lock any more"
}

# apt_get ARGS...: apt-get ARGS with a bounded wait for the locks; on a lock failure, says who holds it.
apt_get() {
  local timeout=${LIFELINE_APT_LOCK_TIMEOUT:-300} errors rc=0
  errors=$(mktemp)
  apt-get -o "DPkg::Lock::Timeout=$timeout" "$@" 2>"$errors" || rc=$?
  cat "$errors" >&2
  if [ "$rc" -ne 0 ] && grep -qE 'Could not get lock|Unable to acquire the dpkg frontend lock|Unable to lock' "$errors"; then
    echo "$(basename "$0"): apt-get $* could not get an apt or dpkg lock within ${timeout}s; held by:" >&2
    apt_lock_holders >&2
  fi
  rm -f "$errors"
  return "$rc"
}
