package main

import (
	"context"
	"errors"
	"math"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
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
		{"v2, memory.high below memory.max", map[string]string{"/proc/self/cgroup": "0::/prov\n", "/sys/fs/cgroup/prov/memory.max": "1073741824\n", "/sys/fs/cgroup/prov/memory.high": "805306368\n"}, 768 << 20},
		{"v2, memory.high alone", map[string]string{"/proc/self/cgroup": "0::/prov\n", "/sys/fs/cgroup/prov/memory.max": "max\n", "/sys/fs/cgroup/prov/memory.high": "805306368\n"}, 768 << 20},
		{"v2, memory.high max", map[string]string{"/proc/self/cgroup": "0::/prov\n", "/sys/fs/cgroup/prov/memory.max": "1073741824\n", "/sys/fs/cgroup/prov/memory.high": "max\n"}, 1 << 30},
		{"v2, an ancestor's memory.high", map[string]string{"/proc/self/cgroup": "0::/slice/prov\n", "/sys/fs/cgroup/prov/memory.max": "1073741824\n", "/sys/fs/cgroup/slice/memory.high": "536870912\n"}, 512 << 20},
		{"v1, memory.high is v2's", map[string]string{"/proc/self/cgroup": "9:memory:/prov\n", "/sys/fs/cgroup/memory/prov/memory.limit_in_bytes": "1073741824\n", "/sys/fs/cgroup/memory/prov/memory.high": "536870912\n"}, 1 << 30},
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
// process's limit (to 640 MiB for a test's small heap, outside a cgroup),
// and follows the cgroup's limit when it changes: a container shrunk to
// 512 MiB while the server runs caps the soft limit at nine tenths of
// that, and lifting the limit again lifts the cap.
func TestFollowMemoryLimit(t *testing.T) {
	old := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	var hard atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		followMemoryLimit(ctx, time.Millisecond, hard.Load)
	}()
	waitFor := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for debug.SetMemoryLimit(-1) != want && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if got := debug.SetMemoryLimit(-1); got != want {
			t.Fatalf("the limit is %d, want %d", got, want)
		}
	}
	waitFor(640 << 20)
	hard.Store(512 << 20)
	waitFor((512 << 20) / 10 * 9)
	hard.Store(0)
	waitFor(640 << 20)
	cancel()
	<-done
}

// TestStartMemoryLimit: the server's start sets the limit from the
// cgroup's files at once and reads them again as it follows the heap, so
// that a container resized while the server runs is followed (review11:
// a main that read the cgroup once passed every other test).
func TestStartMemoryLimit(t *testing.T) {
	old := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	var mu sync.Mutex
	files := map[string]string{"/proc/self/cgroup": "0::/prov\n", "/sys/fs/cgroup/prov/memory.max": "536870912\n"}
	setMax := func(v string) {
		mu.Lock()
		defer mu.Unlock()
		files["/sys/fs/cgroup/prov/memory.max"] = v
	}
	read := func(name string) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		return readFrom(files)(name)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := startMemoryLimit(ctx, time.Millisecond, read)
	defer func() { cancel(); <-done }()
	if got := debug.SetMemoryLimit(-1); got != (512<<20)/10*9 {
		t.Fatalf("at the start, in a 512 MiB cgroup: the limit is %d, want %d", got, (512<<20)/10*9)
	}
	setMax("max\n")
	deadline := time.Now().Add(10 * time.Second)
	for debug.SetMemoryLimit(-1) != 640<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("the cgroup's limit lifted: the limit is still %d, want 640 MiB", debug.SetMemoryLimit(-1))
		}
		time.Sleep(time.Millisecond)
	}
}
