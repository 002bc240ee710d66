# podman.sh: sourced by tests that use podman/skopeo's containers-storage: a private store and
# configs under $T (nothing of the host's is touched). This machine's root lacks
# CAP_SYS_RESOURCE, so podman's default rlimits fail at container start: they are lowered to the
# hard limits here, as ../shared/bench/env.sh does for the benchmarks.
podman_setup() {
	mkdir -p "$T/podman/storage" "$T/podman/run"
	export CONTAINERS_STORAGE_CONF="$T/podman/storage.conf"
	export CONTAINERS_CONF="$T/podman/containers.conf"
	export CONTAINERS_REGISTRIES_CONF="$T/podman/registries.conf"
	cat > "$CONTAINERS_STORAGE_CONF" <<CONF
[storage]
driver = "overlay"
graphroot = "$T/podman/storage"
runroot = "$T/podman/run"
CONF
	hn=$(awk '/^Max open files/ {print $5}' /proc/self/limits)
	hu=$(awk '/^Max processes/ {print $4}' /proc/self/limits)
	[ "$hn" = unlimited ] && hn=1048576
	[ "$hu" = unlimited ] && hu=32768
	[ "$hu" -gt 32768 ] && hu=32768
	cat > "$CONTAINERS_CONF" <<CONF
[containers]
default_ulimits = ["nofile=$hn:$hn", "nproc=$hu:$hu"]
[engine]
runtime = "runc"
CONF
	printf 'unqualified-search-registries = []\n' > "$CONTAINERS_REGISTRIES_CONF"
}
podman_cleanup() {
	podman rm -af >/dev/null 2>&1
	podman rmi -af >/dev/null 2>&1
	umount -R "$T/podman/storage/overlay" 2>/dev/null
	true
}
