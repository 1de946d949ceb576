package testenv

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// hostSys is the Linux state of a Host.
type hostSys struct {
	path    string         // /run/netns/NAME once the file exists (ours to remove)
	mounted bool           // the namespace is bind-mounted on path
	ns      netns.NsHandle // open namespace fd, or -1
	handle  *netlink.Handle
}

func (s *hostSys) init() { s.ns = netns.None() }

var netnsDirOnce = sync.OnceValue(prepareNetnsDir)

// prepareNetnsDir creates /run/netns and makes it a shared mount, as
// `ip netns add` does, so that unmounting a namespace there also releases
// the copies in mount namespaces created later (e.g. by `ip netns exec`).
func prepareNetnsDir() error {
	if err := os.MkdirAll(NetnsDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", NetnsDir, err)
	}
	err := unix.Mount("", NetnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) { // not a mount point yet
		if err := unix.Mount(NetnsDir, NetnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind-mount %s: %w", NetnsDir, err)
		}
		err = unix.Mount("", NetnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	}
	if err != nil {
		return fmt.Errorf("make %s shared: %w", NetnsDir, err)
	}
	return nil
}

var sweepOnce sync.Once

// sweepStale removes namespaces that a test binary which has since died
// (killed, or crashed in a panic before its cleanups) left in /run/netns:
// entries named xlb<pid>-... whose process no longer exists.
func sweepStale() {
	entries, err := os.ReadDir(NetnsDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		var pid, seq int
		var role string
		if n, _ := fmt.Sscanf(e.Name(), "xlb%d-%d-%s", &pid, &seq, &role); n != 3 || pid <= 0 {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); !errors.Is(err, os.ErrNotExist) {
			continue // alive (or unknown): not ours to judge
		}
		path := filepath.Join(NetnsDir, e.Name())
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			slog.Warn("testenv: cannot unmount stale namespace", "path", path, "err", err)
			continue
		}
		if err := os.Remove(path); err != nil {
			slog.Warn("testenv: cannot remove stale namespace", "path", path, "err", err)
			continue
		}
		slog.Info("testenv: removed namespace left by dead process", "path", path, "pid", pid)
	}
}

// create makes h's named network namespace and opens a netlink handle in it.
func (h *Host) create() error {
	if err := netnsDirOnce(); err != nil {
		return err
	}
	sweepOnce.Do(sweepStale)
	path := filepath.Join(NetnsDir, h.NSName)
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("create namespace file: %w", err)
	}
	f.Close()
	h.sys.path = path

	enter := func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare network namespace: %w", err)
		}
		return nil
	}
	err = onLockedThread(enter, func() error {
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind-mount network namespace: %w", err)
		}
		h.sys.mounted = true
		return nil
	})
	if err != nil {
		return err
	}
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("open network namespace: %w", err)
	}
	h.sys.ns = ns
	handle, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("open netlink handle: %w", err)
	}
	h.sys.handle = handle
	return nil
}

// destroy closes h's handles and removes its namespace. The kernel frees
// the namespace, and the links in it, once nothing else holds it.
func (h *Host) destroy() error {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	var errs []error
	if h.sys.handle != nil {
		h.sys.handle.Close()
		h.sys.handle = nil
	}
	if h.sys.ns.IsOpen() {
		if err := h.sys.ns.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close namespace: %w", err))
		}
	}
	if h.sys.mounted {
		if err := unix.Unmount(h.sys.path, unix.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w", h.sys.path, err))
		} else {
			h.sys.mounted = false
		}
	}
	if h.sys.path != "" && !h.sys.mounted {
		if err := os.Remove(h.sys.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove namespace file: %w", err))
		} else {
			h.sys.path = ""
		}
	}
	return errors.Join(errs...)
}

// onLockedThread runs enter and then fn on a fresh goroutine locked to its
// OS thread, and moves the thread back to its original network namespace
// afterwards. If that fails the thread stays locked, so the Go runtime
// ends it instead of reusing it in the wrong namespace. A panic in fn is
// re-raised in the caller.
func onLockedThread(enter, fn func() error) error {
	type result struct {
		err      error
		panicked bool
		value    any
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("open current network namespace: %w", err)}
			return
		}
		defer orig.Close()
		var res result
		func() {
			defer func() {
				if v := recover(); v != nil {
					res.panicked, res.value = true, v
				}
			}()
			if res.err = enter(); res.err == nil {
				res.err = fn()
			}
		}()
		if err := netns.Set(orig); err != nil {
			res.err = errors.Join(res.err, fmt.Errorf("restore network namespace: %w", err))
		} else {
			runtime.UnlockOSThread()
		}
		done <- res
	}()
	res := <-done
	if res.panicked {
		panic(res.value)
	}
	return res.err
}

// Do runs fn on an OS thread inside h's network namespace and restores the
// thread afterwards. Sockets fn creates belong to h's namespace and stay
// usable from any goroutine; fn must not start goroutines that expect to
// run in the namespace.
func (h *Host) Do(fn func() error) error {
	return onLockedThread(func() error {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.closed || !h.sys.ns.IsOpen() {
			return fmt.Errorf("enter %s: %w", h.Name, ErrClosed)
		}
		if err := netns.Set(h.sys.ns); err != nil {
			return fmt.Errorf("enter network namespace %s: %w", h.NSName, err)
		}
		return nil
	}, fn)
}

// Handle returns the netlink handle bound to h's namespace (safe for
// concurrent use), or nil once the topology is closed.
func (h *Host) Handle() *netlink.Handle {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	return h.sys.handle
}

// Link returns the link called name in h's namespace.
func (h *Host) Link(name string) (netlink.Link, error) {
	handle := h.Handle()
	if handle == nil {
		return nil, fmt.Errorf("get link %s: %w", name, ErrClosed)
	}
	l, err := handle.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("get link %s in %s: %w", name, h.Name, err)
	}
	return l, nil
}

// Ifindex returns the index of the interface called name in h's namespace.
func (h *Host) Ifindex(name string) (int, error) {
	l, err := h.Link(name)
	if err != nil {
		return 0, err
	}
	return l.Attrs().Index, nil
}

// sysctlPath maps "net.ipv4.ip_forward" (or "net/ipv4/ip_forward") to its
// file under /proc/sys. With the dotted form, interface names must not
// contain dots; use the slash form for those.
func sysctlPath(key string) (string, error) {
	if !strings.Contains(key, "/") {
		key = strings.ReplaceAll(key, ".", "/")
	}
	for _, part := range strings.Split(key, "/") {
		if part == "" || part == "." || part == ".." {
			return "", fmt.Errorf("bad sysctl key %q", key)
		}
	}
	return "/proc/sys/" + key, nil
}

// Sysctl sets key (e.g. "net.ipv4.ip_forward") to value in h's namespace.
// Only the namespaced (net.*) keys differ per namespace.
func (h *Host) Sysctl(key, value string) error {
	path, err := sysctlPath(key)
	if err != nil {
		return fmt.Errorf("set sysctl: %w", err)
	}
	err = h.Do(func() error { return os.WriteFile(path, []byte(value), 0) })
	if err != nil {
		return fmt.Errorf("set sysctl %s=%s in %s: %w", key, value, h.Name, err)
	}
	return nil
}

// ReadSysctl returns the value of key in h's namespace, without the
// trailing newline.
func (h *Host) ReadSysctl(key string) (string, error) {
	path, err := sysctlPath(key)
	if err != nil {
		return "", fmt.Errorf("read sysctl: %w", err)
	}
	var b []byte
	err = h.Do(func() error {
		var err error
		b, err = os.ReadFile(path)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("read sysctl %s in %s: %w", key, h.Name, err)
	}
	return strings.TrimSpace(string(b)), nil
}
