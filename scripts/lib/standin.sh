# shellcheck shell=bash disable=SC2154 # $repo and $work are the sourcing script's
# What the deployment test scripts (test-deploy.sh, test-package.sh, test-container.sh)
# need to run axprobe against axigen-standin on 127.0.0.1: free ports, the commands built
# as the Dockerfile builds them, and a daemon config for the stand-in. Source it after
# scripts/lib/checks.sh.

# port_free PORT: nothing on 127.0.0.1 accepts connections on PORT.
port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_ports N: prints the first of N consecutive ports free on 127.0.0.1 (the stand-in's
# six listeners, and /metrics after them), tried at random in 20000-32767, below Linux's
# ephemeral range (32768 and up): a port another program's connection uses as its source
# cannot be bound, and a connect probe does not see it. Returns 1 when 50 tries found none.
free_ports() {
	local try b i ok
	for ((try = 0; try < 50; try++)); do
		b=$((20000 + RANDOM % (32768 - 20000 - $1)))
		ok=1
		for ((i = 0; i < $1; i++)); do port_free $((b + i)) || ok=; done
		if [[ -n $ok ]]; then
			echo "$b"
			return 0
		fi
	done
	return 1
}

# build_static DIR VERSION CMD...: builds each command of ./cmd into DIR as the Dockerfile
# does (static, -trimpath, -s -w, main.version=VERSION); passes or fails one check per
# command and exits 1 when one does not build: nothing can go on without the binaries.
build_static() {
	local dir=$1 version=$2 c
	shift 2
	for c in "$@"; do
		if (cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$dir/$c" "./cmd/$c") >"$work/last.out" 2>&1; then
			pass "build $c"
		else
			fail "build $c"
			show "$work/last.out" 30
			echo "cannot go on without the binaries"
			exit 1
		fi
	done
}

# standin_config SOCKET BASE [PIDFILE]: prints a daemon config with one target, axigen,
# whose checks are the stand-in's SMTP, IMAP and POP3 on 127.0.0.1:BASE to BASE+2, with
# /metrics on 127.0.0.1:BASE+6 and, when PIDFILE is given, the process gate on it.
standin_config() {
	local process=
	if [[ -n ${3:-} ]]; then
		process="    process: {pidfile: $3, name: axigen-standin}"$'\n'
	fi
	cat <<YAML
socket: $1
http:
  listen: 127.0.0.1:$(($2 + 6))
targets:
  - name: axigen
    vip: 127.0.0.1
${process}    interval: 1s
    fast_interval: 200ms
    timeout: 800ms
    checks:
      - {name: smtp, protocol: smtp, port: $2, banner_regex: "Axigen ESMTP"}
      - {name: imap, protocol: imap, port: $(($2 + 1))}
      - {name: pop3, protocol: pop3, port: $(($2 + 2))}
YAML
}
