package health

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestSplitCommand(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  bool
	}{
		{in: "/usr/bin/check", want: []string{"/usr/bin/check"}},
		{in: "  /bin/check  -p 80\t-v ", want: []string{"/bin/check", "-p", "80", "-v"}},
		{in: `/bin/check "two words" 'single $HOME' x`, want: []string{"/bin/check", "two words", "single $HOME", "x"}},
		{in: `/bin/check "say \"hi\" \\ \n"`, want: []string{"/bin/check", `say "hi" \ \n`}},
		{in: `/bin/check a\ b \'c`, want: []string{"/bin/check", "a b", "'c"}},
		{in: `/bin/check pre"mid dle"post ''`, want: []string{"/bin/check", "premid dlepost", ""}},
		{in: `/bin/check "open`, err: true},
		{in: `/bin/check 'open`, err: true},
		{in: `/bin/check \`, err: true},
		{in: "   ", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := SplitCommand(tt.in)
			if (err != nil) != tt.err {
				t.Fatalf("SplitCommand(%q) error %v, want error %v", tt.in, err, tt.err)
			}
			if err != nil {
				if !errors.Is(err, ErrBadCommand) {
					t.Errorf("error %v does not wrap ErrBadCommand", err)
				}
				return
			}
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tt.want) {
				t.Errorf("SplitCommand(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// writeScript writes an executable shell script into dir.
func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMiscCheck(t *testing.T) {
	dir := t.TempDir()
	exit := writeScript(t, dir, "exit.sh", `exit "$1"`)
	args := writeScript(t, dir, "args.sh", `[ "$#" = 2 ] && [ "$1" = "two words" ] && [ "$2" = '$HOME' ]`)
	tests := []struct {
		desc       string
		check      MiscCheck
		want       string
		wantWeight int // -1: no weight
	}{
		{desc: "exit 0 up", check: MiscCheck{Path: exit + " 0"}, wantWeight: -1},
		{desc: "exit 1 down", check: MiscCheck{Path: exit + " 1"}, want: exit + " exited with status 1", wantWeight: -1},
		{desc: "exit 7 down without misc_dynamic", check: MiscCheck{Path: exit + " 7"}, want: exit + " exited with status 7", wantWeight: -1},
		{desc: "dynamic exit 0 up, weight unchanged", check: MiscCheck{Path: exit + " 0", Dynamic: true}, wantWeight: -1},
		{desc: "dynamic exit 1 down", check: MiscCheck{Path: exit + " 1", Dynamic: true}, want: exit + " exited with status 1", wantWeight: -1},
		{desc: "dynamic exit 2 weight 0", check: MiscCheck{Path: exit + " 2", Dynamic: true}, wantWeight: 0},
		{desc: "dynamic exit 255 weight 253", check: MiscCheck{Path: exit + " 255", Dynamic: true}, wantWeight: 253},
		{desc: "quoted args, no shell expansion", check: MiscCheck{Path: args + ` "two words" '$HOME'`}, wantWeight: -1},
		{desc: "env", check: MiscCheck{Path: `/bin/sh -c 'test "$FOO" = bar'`, Env: []string{"FOO=bar"}}, wantWeight: -1},
		{desc: "missing program", check: MiscCheck{Path: dir + "/nope"}, want: "start " + dir + "/nope: no such file or directory", wantWeight: -1},
		{desc: "killed by signal", check: MiscCheck{Path: `/bin/sh -c 'kill -TERM $$'`}, want: "/bin/sh killed by signal terminated", wantWeight: -1},
		{desc: "unterminated quote", check: MiscCheck{Path: `/bin/true "x`}, want: `split command "/bin/true \"x": bad command line: unterminated "`, wantWeight: -1},
		{desc: "unknown user", check: MiscCheck{Path: "/bin/true", User: "no-such-user-xlb"}, want: "run /bin/true: look up user: user: unknown user no-such-user-xlb", wantWeight: -1},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			ctx, cancel := WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res, err := tt.check.Check(ctx)
			assertReason(t, err, tt.want)
			w := -1
			if res.WeightSet {
				w = res.Weight
			}
			if w != tt.wantWeight {
				t.Errorf("weight %d, want %d (-1 = unset)", w, tt.wantWeight)
			}
		})
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestMiscCheckTimeoutKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	// The script starts a child and a grandchild that would outlive it,
	// records their pids, and hangs.
	hang := writeScript(t, dir, "hang.sh", fmt.Sprintf(`
sleep 30 &
echo $! >> %[1]s
sh -c 'sleep 30 & echo $! >> %[1]s; wait' &
echo $$ >> %[1]s
wait
`, pids))
	for _, tt := range []struct {
		desc    string
		check   MiscCheck
		ctxTime time.Duration
		want    string
	}{
		{desc: "misc_timeout", check: MiscCheck{Path: hang, Timeout: 300 * time.Millisecond}, ctxTime: 5 * time.Second,
			want: "run " + hang + ": timeout after 300ms"},
		{desc: "connect_timeout (context)", check: MiscCheck{Path: hang}, ctxTime: 300 * time.Millisecond,
			want: "run " + hang + ": timeout after 300ms"},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			os.Remove(pids)
			ctx, cancel := WithTimeout(context.Background(), tt.ctxTime)
			defer cancel()
			start := time.Now()
			_, err := tt.check.Check(ctx)
			el := time.Since(start)
			assertReason(t, err, tt.want)
			var te *TimeoutError
			if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v is not a TimeoutError", err)
			}
			if el > 2*time.Second {
				t.Errorf("check returned after %v, want about 300ms", el)
			}
			b, _ := os.ReadFile(pids)
			fields := strings.Fields(string(b))
			if len(fields) != 3 {
				t.Fatalf("script recorded pids %q, want 3", fields)
			}
			deadline := time.Now().Add(2 * time.Second)
			for _, f := range fields {
				pid, _ := strconv.Atoi(f)
				for alive(pid) && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				if alive(pid) {
					t.Errorf("pid %d of the script's group still runs", pid)
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		})
	}
}

func TestNotifier(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	rec := writeScript(t, dir, "rec.sh", `printf '%s %s %s %s\n' "$1" "$XLB_TARGET" "$XLB_STATE" "$XLB_REASON" >> `+out)
	n := Notifier{
		Up:   Script{Command: rec + " up-script", Timeout: 2 * time.Second},
		Down: Script{Command: rec + ` "down script"`, Timeout: 2 * time.Second},
	}
	ctx := context.Background()
	if err := n.Notify(ctx, Event{Target: "198.18.1.2:80", Up: false, Reason: "HTTP status 500, want 200-299"}); err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(ctx, Event{Target: "198.18.1.2:80", Up: true, Reason: "check succeeded"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := "down script 198.18.1.2:80 DOWN HTTP status 500, want 200-299\nup-script 198.18.1.2:80 UP check succeeded\n"
	if string(b) != want {
		t.Errorf("scripts wrote %q, want %q", b, want)
	}
	if err := (Notifier{}).Notify(ctx, Event{Up: true}); err != nil {
		t.Errorf("empty notifier: %v", err)
	}
	slow := Notifier{Down: Script{Command: "/bin/sleep 10", Timeout: 100 * time.Millisecond}}
	err = slow.Notify(ctx, Event{})
	assertReason(t, err, "notify down: run /bin/sleep: timeout after 100ms")
	fail := Notifier{Up: Script{Command: "/bin/false"}}
	assertReason(t, fail.Notify(ctx, Event{Up: true}), "notify up: /bin/false exited with status 1")
}

// requirePrivileged skips a test when not root, unless
// XLB_REQUIRE_PRIVILEGED=1, where it fails.
func requirePrivileged(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("XLB_REQUIRE_PRIVILEGED") == "1" {
		t.Fatal("test needs root and XLB_REQUIRE_PRIVILEGED=1")
	}
	t.Skip("test needs root (set XLB_REQUIRE_PRIVILEGED=1 to fail instead)")
}

func TestIntegrationScriptUser(t *testing.T) {
	requirePrivileged(t)
	// "nobody" is 65534 on Debian; the script asks id for the truth.
	check := `/bin/sh -c 'test "$(id -un)" = nobody && test "$(id -u)" != 0'`
	tests := []struct {
		desc, user, group, want string
	}{
		{desc: "as nobody", user: "nobody"},
		{desc: "as root", want: "/bin/sh exited with status 1"},
		{desc: "nobody with group nogroup", user: "nobody", group: "nogroup"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			m := MiscCheck{Path: check, User: tt.user, Group: tt.group, Timeout: 5 * time.Second}
			_, err := m.Check(context.Background())
			assertReason(t, err, tt.want)
		})
	}
	grp := MiscCheck{Path: `/bin/sh -c 'test "$(id -gn)" = nogroup'`, User: "nobody", Group: "nogroup", Timeout: 5 * time.Second}
	if _, err := grp.Check(context.Background()); err != nil {
		t.Errorf("group nogroup: %v", err)
	}
}

// quoteArgs quotes argv so that SplitCommand gives it back.
func quoteArgs(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

func FuzzSplitCommand(f *testing.F) {
	for _, s := range []string{"/bin/x a b", `a "b c" 'd e'`, `a\ b`, `"x\"y"`, `'`, `\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		argv, err := SplitCommand(s)
		if err != nil {
			return
		}
		if len(argv) == 0 {
			t.Fatalf("SplitCommand(%q) = no words and no error", s)
		}
		again, err := SplitCommand(quoteArgs(argv))
		if err != nil || fmt.Sprintf("%q", again) != fmt.Sprintf("%q", argv) {
			t.Fatalf("round trip of %q: %q then %q (%v)", s, argv, again, err)
		}
	})
}
