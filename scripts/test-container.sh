#!/usr/bin/env bash
# Builds the image the Dockerfile describes without pulling anything: FROM scratch with
# buildah, from the static binaries built by the Dockerfile's own command, plus what the
# distroless/static "nonroot" base gives (passwd and group naming uid 65532, the CA
# bundle, /tmp, /home/nonroot). USER, VOLUME, EXPOSE, ENTRYPOINT and CMD are read from the
# Dockerfile's last stage, and the image's config is checked against them. Then podman runs
# it against axigen-standin on the host and the script checks that the daemon runs as uid
# 65532 (not root), answers on its socket (through the host's axprobe-monitor) and on
# /metrics, and stops cleanly on SIGTERM.
#
# No registry is reachable on the test machine, so `docker build` cannot pull
# golang:1.26 or distroless; this is the same image by other means. podman runs with
# runc, cgroupfs and explicit ulimits: on this machine crun and podman's default limits
# fail (docs/DEPLOY.md, "Container").
#
# Run as root on Debian with buildah, podman and runc (scripts/install-test-deps.sh).
# Every image, container and layer lives in a private storage directory under a temporary
# directory, removed on exit; the machine's own container storage is not touched.
#
#   sudo scripts/test-container.sh
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d /tmp/axctr.XXXXXX)
chmod 0755 "$work"
storage=(--root "$work/storage" --runroot "$work/runroot" --storage-driver vfs)
podman=(podman "${storage[@]}" --runtime runc --cgroup-manager cgroupfs --events-backend file)
image=localhost/axprobe:test-container
name=axprobe-test-$$
standin_pid=

# shellcheck source=scripts/lib/checks.sh
source "$repo/scripts/lib/checks.sh"
# shellcheck source=scripts/lib/standin.sh
source "$repo/scripts/lib/standin.sh"

cleanup() {
	set +e
	"${podman[@]}" rm -f -t 5 "$name" >/dev/null 2>&1
	buildah "${storage[@]}" rm --all >/dev/null 2>&1
	"${podman[@]}" rmi -f "$image" >/dev/null 2>&1
	if [[ -n $standin_pid ]]; then
		kill "$standin_pid" 2>/dev/null
		wait "$standin_pid" 2>/dev/null
	fi
	# vfs layers are plain directories; mounts are gone with the container.
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if [[ $(id -u) -ne 0 ]]; then
	echo "test-container: must run as root (buildah and podman with their own storage)" >&2
	exit 1
fi
for tool in buildah podman runc curl go; do
	command -v "$tool" >/dev/null || {
		echo "test-container: $tool missing (scripts/install-test-deps.sh installs it)" >&2
		exit 1
	}
done

echo "== the Dockerfile's last stage"
# Lines after the last FROM, continuation lines joined.
stage=$(awk '/^FROM /{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}' "$repo/Dockerfile" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta')
instr() { grep -E "^$1 " <<<"$stage" | tail -n 1 | sed -E "s/^$1 +//"; }
base=$(instr FROM)
user=$(instr USER)
volume=$(instr VOLUME | tr -d '[]" ')
expose=$(instr EXPOSE)
entrypoint=$(instr ENTRYPOINT)
cmd=$(instr CMD)
bindir=$(instr COPY | awk '{print $NF}')
echo "   FROM $base, USER $user, VOLUME $volume, EXPOSE $expose, binaries to $bindir"
echo "   ENTRYPOINT $entrypoint CMD $cmd"
if [[ $base == *distroless/static*:nonroot && $user == 65532:65532 && -n $volume && -n $expose && $entrypoint == '['* && $cmd == '['* && $bindir == /usr/local/bin/ ]]; then
	pass "Dockerfile: distroless static nonroot, USER 65532:65532, exec-form ENTRYPOINT and CMD"
else
	fail "Dockerfile's last stage is not what this script rebuilds; update it with the Dockerfile"
	exit 1
fi

echo "== static binaries (the Dockerfile's build command)"
version=test-container
build_static "$work/bin" "$version" axprobe axprobe-monitor axigen-standin

echo "== buildah: FROM scratch"
ctr=$(buildah "${storage[@]}" from scratch)
mnt=$(buildah "${storage[@]}" mount "$ctr")
# What distroless/static-debian12:nonroot holds besides its (empty) binaries directory.
install -d -m 0755 "$mnt/etc" "$mnt/etc/ssl/certs" "$mnt/usr/local/bin"
install -d -m 1777 "$mnt/tmp"
install -d -m 0700 -o 65532 -g 65532 "$mnt/home/nonroot"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$mnt/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >"$mnt/etc/group"
chmod 0644 "$mnt/etc/passwd" "$mnt/etc/group"
if [[ -r /etc/ssl/certs/ca-certificates.crt ]]; then
	install -m 0644 /etc/ssl/certs/ca-certificates.crt "$mnt/etc/ssl/certs/ca-certificates.crt"
fi
install -m 0755 "$work/bin/axprobe" "$work/bin/axprobe-monitor" "$mnt/usr/local/bin/"
buildah "${storage[@]}" umount "$ctr" >/dev/null
buildah "${storage[@]}" config --user "$user" --volume "$volume" --port "$expose/tcp" \
	--entrypoint "$entrypoint" --cmd "$cmd" \
	--label org.opencontainers.image.title=axprobe --label org.opencontainers.image.version="$version" "$ctr"
if buildah "${storage[@]}" commit --quiet "$ctr" "$image" >"$work/last.out" 2>&1; then
	pass "buildah commit $image ($(buildah "${storage[@]}" images --format '{{.Size}}' "$image"))"
else
	fail "buildah commit"
	show "$work/last.out"
	exit 1
fi
cfg=$(buildah "${storage[@]}" inspect --type image "$image" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["OCIv1"]["config"], separators=(",", ":")))')
norm() { tr -d ' \n' <<<"$1"; }
if [[ $cfg == *"\"User\":\"$user\""* ]]; then pass "image User is $user"; else fail "image User: $cfg"; fi
if [[ $cfg == *"\"$expose/tcp\""* ]]; then pass "image exposes $expose/tcp"; else fail "image ExposedPorts: $cfg"; fi
if [[ $cfg == *"\"$volume\""* ]]; then pass "image declares the volume $volume"; else fail "image Volumes: $cfg"; fi
if [[ $(norm "$cfg") == *"\"Entrypoint\":$(norm "$entrypoint")"* ]]; then pass "image Entrypoint is the Dockerfile's"; else fail "image Entrypoint: $cfg"; fi
if [[ $(norm "$cfg") == *"\"Cmd\":$(norm "$cmd")"* ]]; then pass "image Cmd is the Dockerfile's"; else fail "image Cmd: $cfg"; fi

echo "== podman run, against axigen-standin on the host"
base=$(free_ports 7) || {
	fail "no seven free consecutive ports"
	exit 1
}
"$work/bin/axigen-standin" --base-port "$base" --pidfile "$work/axigen.pid" </dev/null >"$work/standin.log" 2>&1 &
standin_pid=$!
mkdir -p "$work/etc" "$work/run"
# The daemon (uid 65532) owns its socket directory, as DEPLOY.md says for the host side.
chown 65532:65532 "$work/run"
chmod 0750 "$work/run"
standin_config /run/axprobe/axprobe.sock "$base" >"$work/etc/axprobe.yaml"
chmod 0644 "$work/etc/axprobe.yaml"
if "${podman[@]}" run -d --name "$name" \
	--ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --network host \
	-v "$work/etc:/etc/axprobe:ro" -v "$work/run:/run/axprobe" "$image" >"$work/last.out" 2>&1; then
	pass "podman run -d (runc, cgroupfs, --network host, config and socket directory mounted)"
else
	fail "podman run"
	show "$work/last.out"
	exit 1
fi
sock=$work/run/axprobe.sock
before=$failed
wait_code 110 30 "the host's axprobe-monitor --daemon-uid 65532 through the container's socket: 110" \
	"$work/bin/axprobe-monitor" --socket "$sock" --target axigen --daemon-uid 65532
((failed == before)) || "${podman[@]}" logs "$name" 2>&1 | tail -n 20 | sed 's/^/      | /'
pid=$("${podman[@]}" inspect --format '{{.State.Pid}}' "$name")
uids=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$pid/status" 2>/dev/null || true)
if [[ $uids == "65532 65532 65532 65532" ]]; then
	pass "the daemon (host pid $pid) runs as uid 65532: real, effective, saved and fs uid; not root"
else
	fail "the daemon's uids are '$uids', want 65532 for all"
fi
caps=$(awk '/^CapEff:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
if [[ $caps == 0000000000000000 ]]; then pass "the daemon has no effective capability"; else fail "the daemon's CapEff is $caps"; fi
if [[ $(stat -c %u "$sock" 2>/dev/null) == 65532 ]]; then pass "the socket on the host belongs to uid 65532"; else fail "socket owner: $(stat -c %u "$sock" 2>&1)"; fi
# The 110 above may be the shim's own direct check while the daemon's first round is still
# running (a loaded machine): wait for the daemon itself to report online.
metrics_online() {
	local metrics
	metrics=$(curl -fsS --max-time 10 "http://127.0.0.1:$((base + 6))/metrics" 2>&1 || true)
	grep -qx 'axprobe_state{state="online",target="axigen"} 1' <<<"$metrics" &&
		grep -q "axprobe_build_info{.*version=\"$version\"" <<<"$metrics" && return 0
	head -c 600 <<<"$metrics"
	return 1
}
wait_code 0 30 "/metrics from the container: axigen online, build_info version $version" metrics_online
if "${podman[@]}" stop -t 10 "$name" >/dev/null 2>&1 &&
	[[ $("${podman[@]}" inspect --format '{{.State.ExitCode}}' "$name") == 0 ]]; then
	pass "podman stop: the daemon exits 0 on SIGTERM"
else
	fail "podman stop: exit code $("${podman[@]}" inspect --format '{{.State.ExitCode}}' "$name" 2>&1)"
fi

checks_summary
