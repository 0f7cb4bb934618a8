package backend

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// idleMeter measures the share of the machine's CPU time left idle,
// from /proc/stat, over the interval between two readings at least
// idleEvery apart: the flag follower works in what appends leave. Where
// /proc/stat cannot be read it reports the machine idle.
type idleMeter struct {
	mu          sync.Mutex
	at          time.Time
	idle, total uint64
	share       float64
}

const idleEvery = 100 * time.Millisecond

// Idle returns the idle share (0 to 1) of the last interval measured.
func (m *idleMeter) Idle() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if time.Since(m.at) < idleEvery {
		return m.share
	}
	idle, total, ok := readProcStat()
	if !ok {
		m.share = 1
		return 1
	}
	if m.total != 0 && total > m.total {
		m.share = float64(idle-m.idle) / float64(total-m.total)
	} else {
		m.share = 1
	}
	m.at, m.idle, m.total = time.Now(), idle, total
	return m.share
}

// readProcStat returns the idle (idle and iowait) and total jiffies of
// all CPUs.
func readProcStat() (idle, total uint64, ok bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, 0, false
	}
	fields := strings.Fields(sc.Text())
	if len(fields) < 6 || fields[0] != "cpu" {
		return 0, 0, false
	}
	for i, v := range fields[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		total += n
		if i == 3 || i == 4 { // idle, iowait
			idle += n
		}
	}
	return idle, total, true
}
