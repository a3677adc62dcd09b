#!/bin/sh
# Runs inside the real-stack VM as root (cargo xtask real-ble boots it): brings up D-Bus, BlueZ's
# bluetoothd and two LE controllers emulated by btvirt that share one virtual air, then runs the
# command it was given. The VM has no network device: everything talks over its own loopback.
#
# Exit codes: the command's own, or 90+ when the stack could not be brought up (the host boots
# the VM again for those, never for a failed assertion).
set -u
out=${MOBILE_ACCESS_REAL_BLE_OUT:-/tmp}
uptime() { cut -d' ' -f1 /proc/uptime; }
say() { echo "guest[$(uptime)s]: $*"; }

finish() {
    echo "$1" > "$out/exit-code"
    say "exit $1"
    exit "$1"
}

say "booted"
modprobe hci_vhci || finish 91
ip link set lo up || finish 92
mkdir -p /run/dbus
dbus-daemon --system --fork --nopidfile || finish 93
/usr/libexec/bluetooth/bluetoothd -n > "$out/bluetoothd.log" 2>&1 &

# btvirt often loses the first HCI Reset of a new controller ("Opcode 0x0c03 failed: -110"),
# after which bluetoothd sees one controller: start it again until both are listed.
controllers() { btmgmt info 2>/dev/null | grep -c '^hci[0-9]*:'; }
ready=0
for attempt in 1 2 3 4 5 6; do
    dmesg -C 2>/dev/null
    btvirt -L -l2 > "$out/btvirt.log" 2>&1 &
    btvirt_pid=$!
    for _ in $(seq 1 60); do
        if dmesg 2>/dev/null | grep -q 'Opcode 0x0c03 failed'; then
            break
        fi
        if [ "$(controllers)" -ge 2 ]; then
            ready=1
            break
        fi
        sleep 0.5
    done
    [ "$ready" = 1 ] && break
    say "attempt $attempt: the emulator lost a controller's reset; starting it again"
    kill "$btvirt_pid" 2>/dev/null
    wait "$btvirt_pid" 2>/dev/null
    sleep 1
done
[ "$ready" = 1 ] || finish 94
# Give bluetoothd the moment it needs to power and register both adapters.
for _ in $(seq 1 40); do
    [ "$(bluetoothctl list 2>/dev/null | grep -c '^Controller')" -ge 2 ] && break
    sleep 0.5
done
say "stack ready: $(bluetoothctl list 2>/dev/null | tr '\n' ';')"

"$@"
finish $?
