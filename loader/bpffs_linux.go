package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// EnsureBPFFS makes sure pinDir lies on a bpffs. `ip netns exec` remounts
// /sys and so hides the host's /sys/fs/bpf: when pinDir is under
// /sys/fs/bpf and nothing is mounted there, a bpffs is mounted. Pins on such
// a private mount disappear with the mount namespace. Any other directory
// must already be on a bpffs.
//
// It reports whether it mounted one.
func EnsureBPFFS(pinDir string) (mounted bool, err error) {
	parent := filepath.Dir(filepath.Clean(pinDir))
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return false, fmt.Errorf("prepare bpffs %s: %w", parent, err)
	}
	isBPF, err := onBPFFS(parent)
	if err != nil {
		return false, err
	}
	if !isBPF {
		if parent != bpffsRoot {
			return false, fmt.Errorf("pin directory %s: %s is not on a bpffs (mount -t bpf bpf DIR)", pinDir, parent)
		}
		if err := unix.Mount("bpf", parent, "bpf", 0, "mode=0700"); err != nil {
			return false, fmt.Errorf("mount bpffs on %s: %w", parent, err)
		}
		mounted = true
	}
	if err := os.MkdirAll(pinDir, 0o700); err != nil {
		return mounted, fmt.Errorf("create pin directory %s: %w", pinDir, err)
	}
	return mounted, nil
}

const bpffsRoot = "/sys/fs/bpf"

func onBPFFS(dir string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return st.Type == unix.BPF_FS_MAGIC, nil
}
