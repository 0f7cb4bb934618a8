package main

import (
	"context"
	"errors"
	"math"
	"os"
	"runtime/debug"
	"testing"
	"time"
)

// TestMemoryLimit: the soft limit is 640 MiB until the live heap comes
// within 320 MiB of it, then follows it with that room; in a memory
// cgroup, never above nine tenths of the cgroup's limit.
func TestMemoryLimit(t *testing.T) {
	for _, c := range []struct {
		live uint64
		hard int64
		want int64
	}{
		{0, 0, 640 << 20},
		{320 << 20, 0, 640 << 20},
		{320<<20 + 1, 0, 640<<20 + 1},
		{550e6, 0, 550e6 + 320<<20},
		{4 << 30, 0, 4<<30 + 320<<20},
		{math.MaxUint64, 0, 1<<50 + 320<<20},
		{0, 1 << 30, 640 << 20},
		{700 << 20, 1 << 30, (1 << 30) / 10 * 9},
		{0, 512 << 20, (512 << 20) / 10 * 9},
		{700 << 20, 8 << 30, 1020 << 20},
	} {
		if got := memoryLimit(c.live, c.hard); got != c.want {
			t.Errorf("memoryLimit(%d, %d) = %d, want %d", c.live, c.hard, got, c.want)
		}
	}
}

// TestCgroupMemoryLimit: the process's memory cgroup limit, from cgroup v2
// and v1 files as the kernel writes them; none when unlimited or absent.
func TestCgroupMemoryLimit(t *testing.T) {
	for _, c := range []struct {
		what  string
		files map[string]string
		want  int64
	}{
		{"v2, limited", map[string]string{"/proc/self/cgroup": "0::/system.slice/prov.service\n", "/sys/fs/cgroup/system.slice/prov.service/memory.max": "1073741824\n"}, 1 << 30},
		{"v2, max", map[string]string{"/proc/self/cgroup": "0::/\n", "/sys/fs/cgroup/memory.max": "max\n"}, 0},
		{"v1, limited", map[string]string{"/proc/self/cgroup": "12:pids:/x\n9:memory:/prov1g\n1:name=systemd:/x\n", "/sys/fs/cgroup/memory/prov1g/memory.limit_in_bytes": "1073741824\n"}, 1 << 30},
		{"v1, unlimited", map[string]string{"/proc/self/cgroup": "9:memory:/\n", "/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n"}, 0},
		{"v1, controllers joined", map[string]string{"/proc/self/cgroup": "4:cpu,memory:/c\n", "/sys/fs/cgroup/memory/c/memory.limit_in_bytes": "536870912"}, 512 << 20},
		{"no cgroup file", map[string]string{}, 0},
		{"no limit file", map[string]string{"/proc/self/cgroup": "0::/gone\n"}, 0},
	} {
		read := readFrom(c.files)
		if got := cgroupMemoryLimit(read); got != c.want {
			t.Errorf("%s: %d, want %d", c.what, got, c.want)
		}
	}
	if got := cgroupMemoryLimit(func(string) ([]byte, error) { return nil, errors.New("denied") }); got != 0 {
		t.Errorf("unreadable: %d", got)
	}
}

// readFrom reads files from a map of names to contents, as os.ReadFile
// would from a machine that had them.
func readFrom(files map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		if v, ok := files[name]; ok {
			return []byte(v), nil
		}
		return nil, os.ErrNotExist
	}
}

// TestFollowMemoryLimit: the server's follower of the live heap sets the
// process's limit (to 640 MiB for a test's small heap, outside a cgroup).
func TestFollowMemoryLimit(t *testing.T) {
	old := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		followMemoryLimit(ctx, time.Millisecond, 0)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for debug.SetMemoryLimit(-1) != 640<<20 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if got := debug.SetMemoryLimit(-1); got != 640<<20 {
		t.Fatalf("the limit is %d, want 640 MiB", got)
	}
}
