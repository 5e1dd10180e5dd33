#!/usr/bin/env bash
# Functions reached only from traps look unreachable to shellcheck 0.9.
# shellcheck disable=SC2317
# Run a command with a PulseAudio server reachable through PortAudio -> ALSA -> PulseAudio.
#
# Usage: bash scripts/with-pulseaudio.sh CMD [ARGS...]
#
# If a PulseAudio server already answers (`pactl info`), CMD runs against it unchanged, so a
# desktop session keeps its own server and calls to this script nest. Set
# EDGE_AFFECT_PRIVATE_PULSE=1 to get the private server below even then (a desktop server's
# default source is a microphone, not a loopback of what `paplay` plays).
#
# Otherwise a private daemon is started in user mode (also as root, which only logs a warning;
# no D-Bus session bus or systemd login session is needed) with fresh temporary XDG_RUNTIME_DIR
# and HOME, both exported to CMD. Its default sink is a null sink and its default source is that
# sink's monitor, so whatever CMD plays with `paplay` comes back bit-exact to any recorder that
# opens the default input. module-suspend-on-idle is unloaded so that the sink and its monitor
# are never suspended (a suspended monitor delivers no callbacks while nothing plays).
# Measured with PulseAudio 16.1: an idle null sink renders ahead in blocks of up to ~2 s, so a
# stream opened while nothing plays may get its first callbacks ~2 s late; playback (a new sink
# input) wakes the sink at once, so a recording started just before `paplay` loses at most its
# first block.
#
# ALSA side, nothing written here: the Debian packages ship the routing as conffiles.
#   libasound2-plugins: /etc/alsa/conf.d/50-pulseaudio.conf defines the `pulse` PCM.
#   pulseaudio:         /etc/alsa/conf.d/99-pulse.conf makes `default` the `pulse` PCM whenever
#                       a server is running when the ALSA config is loaded (for PortAudio: at
#                       Pa_Initialize, i.e. `import sounddevice`), hence the server starts first.
#
# Whatever happens (success, failure, Ctrl-C, TERM, HUP) the private daemon is stopped by the PID
# in its pid file, the temporary directories are removed, and the script exits with CMD's status.
set -euo pipefail

readonly SINK_NAME="edge_affect_null"
# Mono 48 kHz s16le: the format of a typical USB microphone. A test that plays a mono 48 kHz
# s16 WAV and records mono 48 kHz then passes through PulseAudio with no resampling, no channel
# remapping and no requantisation, so the capture can be compared with the file sample by sample.
readonly SINK_FORMAT="s16le"
readonly SINK_RATE_HZ=48000
readonly SINK_CHANNELS=1
readonly PACTL_TIMEOUT_S=5
readonly START_TIMEOUT_S=15
readonly STOP_TIMEOUT_S=5
readonly CHILD_STOP_TIMEOUT_S=10
readonly POLL_S=0.1

runtime_dir=""
home_dir=""
child_pid=""

note() {
    printf 'with-pulseaudio: %s\n' "$*" >&2
}

die() {
    note "error: $*"
    exit 1
}

usage() {
    printf 'usage: bash %s CMD [ARGS...]\n' "$0" >&2
}

pactl_info() {
    timeout "$PACTL_TIMEOUT_S" pactl info 2>/dev/null
}

server_reachable() {
    command -v pactl >/dev/null 2>&1 && pactl_info >/dev/null
}

server_string() {
    pactl_info | sed -n 's/^Server String: //p'
}

# True while PID names a live process (a zombie waiting for init to reap it counts as gone).
process_alive() {
    local pid="$1" stat_line=""
    read -r stat_line 2>/dev/null <"/proc/$pid/stat" || return 1
    # Field 3 (after the parenthesised command name) is the state.
    [[ "${stat_line##*) }" != Z* ]]
}

is_pulseaudio() {
    local pid="$1" comm=""
    read -r comm 2>/dev/null <"/proc/$pid/comm" || return 1
    [[ "$comm" == "pulseaudio" ]]
}

# Send SIGNAL to PID, wait up to TIMEOUT_S for it to go, then SIGKILL it.
stop_process() {
    local pid="$1" signal="$2" timeout_s="$3" deadline
    kill -s "$signal" "$pid" 2>/dev/null || return 0
    deadline=$((SECONDS + timeout_s))
    while process_alive "$pid" && ((SECONDS < deadline)); do
        sleep "$POLL_S"
    done
    if process_alive "$pid"; then
        note "PID $pid did not stop within ${timeout_s} s after SIG$signal; killing it"
        kill -s KILL "$pid" 2>/dev/null || true
    fi
}

stop_daemon() {
    local pid_file="$runtime_dir/pulse/pid" pid
    [[ -s "$pid_file" ]] || return 0
    pid="$(<"$pid_file")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 0
    if is_pulseaudio "$pid"; then
        stop_process "$pid" TERM "$STOP_TIMEOUT_S"
    fi
}

cleanup() {
    if [[ -n "$child_pid" ]] && process_alive "$child_pid"; then
        stop_process "$child_pid" TERM "$CHILD_STOP_TIMEOUT_S"
    fi
    if [[ -n "$runtime_dir" ]]; then
        stop_daemon
        rm -rf -- "$runtime_dir"
    fi
    if [[ -n "$home_dir" ]]; then
        rm -rf -- "$home_dir"
    fi
}

# TERM and HUP go to the wrapper alone (CI cancellation, a closed terminal): pass them on to CMD
# and keep waiting for it. Ctrl-C already reaches CMD, which shares our process group, so INT is
# not forwarded (CMD would see it twice); either way CMD's exit ends the wait.
on_signal() {
    local signal="$1"
    if [[ -z "$child_pid" ]]; then
        exit $((128 + $(kill -l "$signal")))
    fi
    if [[ "$signal" != "INT" ]]; then
        kill -s "$signal" "$child_pid" 2>/dev/null || true
    fi
}

make_private_dirs() {
    runtime_dir="$(mktemp -d "${TMPDIR:-/tmp}/edge-affect-pulse-run.XXXXXX")"
    home_dir="$(mktemp -d "${TMPDIR:-/tmp}/edge-affect-pulse-home.XXXXXX")"
    chmod 700 "$runtime_dir" "$home_dir"
    export XDG_RUNTIME_DIR="$runtime_dir"
    export HOME="$home_dir"
    export XDG_CONFIG_HOME="$home_dir/.config"
    # Settings that would point the daemon elsewhere than the private directories.
    unset PULSE_RUNTIME_PATH PULSE_STATE_PATH PULSE_COOKIE
    # Clients (pactl, paplay, the ALSA plugin) go to the private socket, even where a desktop
    # server publishes itself on the X11 root window (the environment takes precedence).
    export PULSE_SERVER="unix:$runtime_dir/pulse/native"
    # Clients must fail, not autospawn a second daemon, if ours dies.
    mkdir -p "$XDG_CONFIG_HOME/pulse"
    printf 'autospawn = no\n' >"$XDG_CONFIG_HOME/pulse/client.conf"
}

show_daemon_log() {
    local log_file="$runtime_dir/pulseaudio.log"
    if [[ -s "$log_file" ]]; then
        note "last lines of the daemon log:"
        tail -n 20 "$log_file" >&2
    fi
}

wait_for_server() {
    local deadline=$((SECONDS + START_TIMEOUT_S))
    until pactl_info >/dev/null; do
        if ((SECONDS >= deadline)); then
            show_daemon_log
            die "the PulseAudio daemon did not answer 'pactl info' within ${START_TIMEOUT_S} s"
        fi
        sleep "$POLL_S"
    done
}

# Each step checks its own status: callers use `configure_null_sink || die`, where set -e is off.
configure_null_sink() {
    pactl load-module module-null-sink \
        sink_name="$SINK_NAME" \
        format="$SINK_FORMAT" rate="$SINK_RATE_HZ" channels="$SINK_CHANNELS" \
        sink_properties=device.description=edge-affect-null >/dev/null || return 1
    pactl set-default-sink "$SINK_NAME" || return 1
    pactl set-default-source "$SINK_NAME.monitor" || return 1
    local modules
    modules="$(pactl list short modules)" || return 1
    if [[ "$modules" == *module-suspend-on-idle* ]]; then
        pactl unload-module module-suspend-on-idle || return 1
    fi
}

start_private_daemon() {
    local tool
    for tool in pulseaudio pactl; do
        command -v "$tool" >/dev/null 2>&1 ||
            die "$tool not found (Debian: apt-get install pulseaudio pulseaudio-utils)"
    done
    make_private_dirs
    if ! pulseaudio --daemonize=yes --exit-idle-time=-1 \
        --log-target="newfile:$runtime_dir/pulseaudio.log"; then
        show_daemon_log
        die "pulseaudio --daemonize failed"
    fi
    wait_for_server
    configure_null_sink || die "could not set up the null sink $SINK_NAME"
    note "started a private PulseAudio server at $(server_string)" \
        "(default source: $SINK_NAME.monitor, ${SINK_CHANNELS} ch ${SINK_RATE_HZ} Hz $SINK_FORMAT)"
}

# Run CMD in the background so that signal traps run while it is going. An asynchronous command
# would otherwise ignore SIGINT and read /dev/null; the subshell restores both.
run_command() {
    local status=0
    (
        trap - INT QUIT
        exec "$@"
    ) <&0 &
    child_pid=$!
    while true; do
        status=0
        wait "$child_pid" || status=$?
        if ! process_alive "$child_pid"; then
            # A wait cut short by a trapped signal may race CMD's exit: ask again for its status
            # (bash keeps the status of a reaped background job).
            status=0
            wait "$child_pid" || status=$?
            break
        fi
    done
    child_pid=""
    return "$status"
}

main() {
    if (($# == 0)); then
        usage
        exit 2
    fi
    if [[ "${EDGE_AFFECT_PRIVATE_PULSE:-0}" != "1" ]] && server_reachable; then
        note "using the existing PulseAudio server at $(server_string)"
        exec "$@"
    fi
    trap cleanup EXIT
    trap 'on_signal TERM' TERM
    trap 'on_signal HUP' HUP
    trap 'on_signal INT' INT
    start_private_daemon
    local status=0
    run_command "$@" || status=$?
    exit "$status"
}

main "$@"
