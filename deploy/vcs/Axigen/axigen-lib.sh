# shellcheck shell=sh
# Shared code of the Axigen agent's entry points (online, offline, monitor, clean); sourced,
# never run. POSIX sh.
#
# VCS (Script51Agent) calls an entry point with the resource name and then the ArgList
# attributes as tuples "Name count value...": a scalar is "Name 1 value", an empty vector
# "Name 0". clean gets a clean reason between the two. The framework may append
# "AEPTimeout 1 <seconds>" (when the type sets AEPTimeout = 1). Tuples are read by name, so
# the order of ArgList and attributes this code does not know do not matter.

# Attribute defaults; AxigenTypes.cf gives the same ones.
PidFile=/var/opt/axigen/run/axigen.pid
ProcessName=axigen
ProbeSocket=/run/axprobe/axprobe.sock
ProbeTarget=axigen
AxprobeMonitor=/usr/local/bin/axprobe-monitor
InitScript=/etc/init.d/axigen
OnlineWaitSeconds=60
OfflineWaitSeconds=30
AEPTimeout=
RESOURCE=

# axigen_log MESSAGE... writes one line to stderr, prefixed with the resource.
axigen_log() {
	printf 'Axigen[%s]: %s\n' "${RESOURCE:-?}" "$*" >&2
}

# axigen_is_count S succeeds when S is a plain decimal of at most 4 digits without a
# leading zero (which sh arithmetic would read as octal).
axigen_is_count() {
	case $1 in
	'' | *[!0-9]* | ?????* | 0?*) return 1 ;;
	esac
	return 0
}

# axigen_parse_args ARGS... reads "<resource> tuples..." into RESOURCE and the attribute
# variables above. It fails, with a message naming the bad tuple, when a count is not a
# number of values that follow, or an attribute this agent reads has more than one value.
axigen_parse_args() {
	if [ $# -lt 1 ] || [ -z "$1" ]; then
		axigen_log "no resource name in the arguments"
		return 1
	fi
	RESOURCE=$1
	shift
	while [ $# -gt 0 ]; do
		_name=$1
		if [ $# -lt 2 ] || ! axigen_is_count "$2" || [ "$2" -gt $(($# - 2)) ]; then
			axigen_log "argument $_name: count '${2-}' is not a number of values that follow"
			return 1
		fi
		_count=$2
		shift 2
		_value=
		if [ "$_count" -ge 1 ]; then
			_value=$1
		fi
		case $_name in
		PidFile | ProcessName | ProbeSocket | ProbeTarget | AxprobeMonitor | InitScript | OnlineWaitSeconds | OfflineWaitSeconds | AEPTimeout)
			if [ "$_count" -gt 1 ]; then
				axigen_log "argument $_name: want one value, got $_count"
				return 1
			fi
			;;
		esac
		if [ "$_count" -eq 1 ]; then
			# shellcheck disable=SC2034 # InitScript is read by the entry points only
			case $_name in
			PidFile) PidFile=$_value ;;
			ProcessName) ProcessName=$_value ;;
			ProbeSocket) ProbeSocket=$_value ;;
			ProbeTarget) ProbeTarget=$_value ;;
			AxprobeMonitor) AxprobeMonitor=$_value ;;
			InitScript) InitScript=$_value ;;
			OnlineWaitSeconds) OnlineWaitSeconds=$_value ;;
			OfflineWaitSeconds) OfflineWaitSeconds=$_value ;;
			AEPTimeout) AEPTimeout=$_value ;;
			esac
		fi
		shift "$_count"
	done
	if ! axigen_is_count "$OnlineWaitSeconds"; then
		axigen_log "OnlineWaitSeconds '$OnlineWaitSeconds' is not a number of seconds (0-9999)"
		return 1
	fi
	if ! axigen_is_count "$OfflineWaitSeconds"; then
		axigen_log "OfflineWaitSeconds '$OfflineWaitSeconds' is not a number of seconds (0-9999)"
		return 1
	fi
	if [ -n "$AEPTimeout" ] && ! axigen_is_count "$AEPTimeout"; then
		axigen_log "AEPTimeout '$AEPTimeout' is not a number of seconds (0-9999)"
		return 1
	fi
	return 0
}

# axigen_probe runs axprobe-monitor for the resource's socket and target and returns its
# exit code (100 offline, 101-110 online, 200 intentionally offline, 99 unknown); its
# output goes to stderr.
axigen_probe() {
	if [ ! -x "$AxprobeMonitor" ]; then
		axigen_log "AxprobeMonitor $AxprobeMonitor is not an executable file"
		return 99
	fi
	if [ -n "$ProbeTarget" ]; then
		"$AxprobeMonitor" --socket "$ProbeSocket" --target "$ProbeTarget" >&2
	else
		"$AxprobeMonitor" --socket "$ProbeSocket" >&2
	fi
}

# axigen_pid prints the pid in PidFile when that process runs and is ProcessName (the
# base name of its executable, or its command name, which the kernel cuts to 15 bytes);
# it fails otherwise, so a stale pidfile whose pid was reused is never taken for Axigen.
axigen_pid() {
	[ -r "$PidFile" ] || return 1
	_pid=$(head -c 32 "$PidFile" 2>/dev/null | tr -d ' \t\r\n')
	axigen_is_pid "$_pid" || return 1
	axigen_pid_is_ours "$_pid" || return 1
	printf '%s\n' "$_pid"
}

# axigen_is_pid S succeeds when S is a positive decimal of at most 10 digits.
axigen_is_pid() {
	case $1 in
	'' | 0 | *[!0-9]* | ???????????*) return 1 ;;
	esac
	return 0
}

# axigen_pid_is_ours PID succeeds when PID runs (not a zombie) and is ProcessName.
axigen_pid_is_ours() {
	[ -r "/proc/$1/comm" ] || return 1
	_state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)
	case $_state in
	Z | X | '') return 1 ;;
	esac
	_want=$(basename "$ProcessName")
	_comm=$(cat "/proc/$1/comm" 2>/dev/null)
	_exe=$(readlink "/proc/$1/exe" 2>/dev/null)
	_exe=$(basename "${_exe% (deleted)}" 2>/dev/null)
	[ "$_comm" = "$_want" ] || [ "$_comm" = "$(printf '%s' "$_want" | cut -c1-15)" ] || [ "$_exe" = "$_want" ]
}

# axigen_wait_limit SECONDS prints SECONDS, or AEPTimeout less 10 s when the framework
# passed AEPTimeout and that is smaller, so an entry point that waits never runs into its
# own timeout (OnlineTimeout, OfflineTimeout).
axigen_wait_limit() {
	if [ -n "$AEPTimeout" ] && [ "$AEPTimeout" -gt 10 ] && [ $((AEPTimeout - 10)) -lt "$1" ]; then
		echo $((AEPTimeout - 10))
		return
	fi
	echo "$1"
}

# axigen_nap sleeps a fifth of a second where sleep takes fractions (GNU, busybox), else
# one second.
axigen_nap() {
	sleep 0.2 2>/dev/null || sleep 1
}

# axigen_is_online CODE succeeds for an axprobe-monitor code that means online (101-110).
axigen_is_online() {
	[ "$1" -ge 101 ] && [ "$1" -le 110 ]
}
