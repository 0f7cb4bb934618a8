package main

import (
	"testing"
)

// TestReview10CgroupV1Container (review10, a failing proof): in a
// container on a cgroup v1 host without a cgroup namespace (Docker's
// default there, and Kubernetes nodes on cgroup v1), /proc/self/cgroup
// names the container's cgroup as the host sees it (/docker/<id>), but
// the memory hierarchy mounted in the container at
// /sys/fs/cgroup/memory is that cgroup itself (mountinfo's root field
// says /docker/<id>): its limit is /sys/fs/cgroup/memory/
// memory.limit_in_bytes, and /sys/fs/cgroup/memory/docker/<id>/ does not
// exist. cgroupMemoryLimit joins the two paths, finds nothing, and
// reports no limit, so the soft limit is not capped at nine tenths of the
// container's: a live heap near the container's limit has the soft limit
// above it, and the kernel kills the server (what 56f6484 set out to
// prevent). The runtime's own cgroup reader (GOMAXPROCS, Go 1.25) and
// every container-aware library map the path through
// /proc/self/mountinfo.
func TestReview10CgroupV1Container(t *testing.T) {
	for _, c := range []struct {
		what  string
		files map[string]string
	}{
		{"Docker, cgroup v1", map[string]string{
			"/proc/self/cgroup": "12:memory:/docker/5e1f0c2a9b\n11:pids:/docker/5e1f0c2a9b\n4:cpu,cpuacct:/docker/5e1f0c2a9b\n1:name=systemd:/docker/5e1f0c2a9b\n",
			"/proc/self/mountinfo": "1253 1250 0:52 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,mode=755\n" +
				"1260 1253 0:31 /docker/5e1f0c2a9b /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime master:15 - cgroup cgroup rw,memory\n" +
				"1261 1253 0:36 /docker/5e1f0c2a9b /sys/fs/cgroup/pids ro,nosuid,nodev,noexec,relatime master:20 - cgroup cgroup rw,pids\n",
			"/sys/fs/cgroup/memory/memory.limit_in_bytes": "1073741824\n",
		}},
		{"Kubernetes, cgroup v1", map[string]string{
			"/proc/self/cgroup":                           "9:memory:/kubepods/burstable/pod6b7e/0d9a3c\n1:name=systemd:/kubepods/burstable/pod6b7e/0d9a3c\n",
			"/proc/self/mountinfo":                        "2001 1990 0:31 /kubepods/burstable/pod6b7e/0d9a3c /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime master:12 - cgroup cgroup rw,memory\n",
			"/sys/fs/cgroup/memory/memory.limit_in_bytes": "1073741824\n",
		}},
	} {
		read := readFrom(c.files)
		if got := cgroupMemoryLimit(read); got != 1<<30 {
			t.Errorf("%s: the container's 1 GiB memory limit read as %d (the soft limit then is %d for a 900 MiB live heap, above the container's limit)", c.what, got, memoryLimit(900<<20, got))
		}
	}
}

// TestReview10CgroupV2AncestorLimit (review10, a failing proof): a
// cgroup v2 limit binds every cgroup below it, and the effective limit is
// the least memory.max from the process's cgroup up to the root (of its
// namespace). cgroupMemoryLimit reads the process's own cgroup only: a
// service with no limit of its own in a slice that has one (systemd's
// MemoryMax= on a slice, a unit started with systemd-run --slice), or
// with a looser one than its slice, gets no cap or the looser one, and
// the soft limit can pass the limit the kernel enforces.
func TestReview10CgroupV2AncestorLimit(t *testing.T) {
	const mountinfo = "25 20 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"
	for _, c := range []struct {
		what  string
		files map[string]string
	}{
		{"no limit of its own, 1 GiB on its slice", map[string]string{
			"/proc/self/cgroup":    "0::/prov.slice/provenanced.service\n",
			"/proc/self/mountinfo": mountinfo,
			"/sys/fs/cgroup/prov.slice/provenanced.service/memory.max": "max\n",
			"/sys/fs/cgroup/prov.slice/memory.max":                     "1073741824\n",
		}},
		{"4 GiB of its own, 1 GiB on its slice", map[string]string{
			"/proc/self/cgroup":    "0::/prov.slice/provenanced.service\n",
			"/proc/self/mountinfo": mountinfo,
			"/sys/fs/cgroup/prov.slice/provenanced.service/memory.max": "4294967296\n",
			"/sys/fs/cgroup/prov.slice/memory.max":                     "1073741824\n",
		}},
	} {
		read := readFrom(c.files)
		if got := cgroupMemoryLimit(read); got != 1<<30 {
			t.Errorf("%s: the effective limit, 1 GiB, read as %d (the soft limit then is %d for a 900 MiB live heap)", c.what, got, memoryLimit(900<<20, got))
		}
	}
}
