package probe

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// ErrFormat is wrapped when a /proc file does not look as expected.
var ErrFormat = errors.New("probe: unexpected format")

// clockTick is the kernel's USER_HZ, which /proc/<pid>/stat counts CPU in;
// 100 on every Linux architecture Go runs on.
const clockTick = 100

// Proc is one sample of a process.
type Proc struct {
	At      time.Time     `json:"at"`
	CPU     time.Duration `json:"cpu_ns"`  // user + system, all threads
	RSS     uint64        `json:"rss"`     // bytes resident (VmRSS)
	HWM     uint64        `json:"hwm"`     // peak resident (VmHWM)
	Threads int           `json:"threads"` // Threads
	FDs     int           `json:"fds"`     // open descriptors; -1 if unreadable
}

// ReadProc samples process pid.
func ReadProc(pid int) (Proc, error) {
	p := Proc{At: time.Now(), FDs: -1}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return p, fmt.Errorf("probe: %w", err)
	}
	// The command name may hold spaces and parentheses: fields start after
	// the last ')'. utime and stime are fields 14 and 15 (1-based).
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return p, fmt.Errorf("%w: /proc/%d/stat", ErrFormat, pid)
	}
	fields := bytes.Fields(stat[i+1:])
	if len(fields) < 13 {
		return p, fmt.Errorf("%w: /proc/%d/stat has %d fields", ErrFormat, pid, len(fields))
	}
	utime, err1 := strconv.ParseUint(string(fields[11]), 10, 64)
	stime, err2 := strconv.ParseUint(string(fields[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return p, fmt.Errorf("%w: /proc/%d/stat times", ErrFormat, pid)
	}
	p.CPU = time.Duration(utime+stime) * time.Second / clockTick
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return p, fmt.Errorf("probe: %w", err)
	}
	p.RSS = statusKB(status, "VmRSS:") * 1024
	p.HWM = statusKB(status, "VmHWM:") * 1024
	p.Threads = int(statusKB(status, "Threads:"))
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		p.FDs = len(ents)
	}
	return p, nil
}

// statusKB returns the number after key in /proc/<pid>/status (kB for
// memory lines), 0 when absent.
func statusKB(status []byte, key string) uint64 {
	i := bytes.Index(status, []byte("\n"+key))
	if i < 0 {
		return 0
	}
	line := status[i+1+len(key):]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	f := bytes.Fields(line)
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.ParseUint(string(f[0]), 10, 64)
	return n
}

// Self is the calling process's own usage.
type Self struct {
	CPU    time.Duration `json:"cpu_ns"` // user + system so far
	User   time.Duration `json:"user_ns"`
	System time.Duration `json:"system_ns"`
	MaxRSS uint64        `json:"max_rss"` // peak resident bytes
	RSS    uint64        `json:"rss"`     // resident bytes now
}

// ReadSelf samples the calling process with getrusage and /proc/self/status.
func ReadSelf() (Self, error) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return Self{}, fmt.Errorf("probe: getrusage: %w", err)
	}
	s := Self{
		User:   time.Duration(ru.Utime.Nano()),
		System: time.Duration(ru.Stime.Nano()),
		MaxRSS: uint64(ru.Maxrss) * 1024,
	}
	s.CPU = s.User + s.System
	if status, err := os.ReadFile("/proc/self/status"); err == nil {
		s.RSS = statusKB(status, "VmRSS:") * 1024
	}
	return s, nil
}

// Sockstat is the kernel's TCP socket accounting, system-wide (both ends of
// every loopback connection count).
type Sockstat struct {
	InUse    uint64 `json:"inuse"`
	MemBytes uint64 `json:"mem_bytes"` // TCP "mem", in pages × page size
}

// ReadSockstat reads /proc/net/sockstat.
func ReadSockstat() (Sockstat, error) {
	b, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return Sockstat{}, fmt.Errorf("probe: %w", err)
	}
	return parseSockstat(b)
}

func parseSockstat(b []byte) (Sockstat, error) {
	i := bytes.Index(b, []byte("\nTCP:"))
	if i < 0 {
		return Sockstat{}, fmt.Errorf("%w: no TCP line in sockstat", ErrFormat)
	}
	line := b[i+5:]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	var s Sockstat
	f := bytes.Fields(line)
	for k := 0; k+1 < len(f); k += 2 {
		n, _ := strconv.ParseUint(string(f[k+1]), 10, 64)
		switch string(f[k]) {
		case "inuse":
			s.InUse = n
		case "mem":
			s.MemBytes = n * uint64(os.Getpagesize())
		}
	}
	return s, nil
}

// ReadSlab returns the kernel's slab memory (Slab in /proc/meminfo), where
// socket structures live: its growth over a connect phase, divided by the
// sockets opened, is the kernel's memory per socket.
func ReadSlab() (uint64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, fmt.Errorf("probe: %w", err)
	}
	return statusKB(append([]byte{'\n'}, b...), "Slab:") * 1024, nil
}
