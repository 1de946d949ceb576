package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/xlbproject/xlb/control/config"
)

var update = flag.Bool("update", false, "rewrite the golden files of the -t and --dump tests")

// runXlbd runs the built xlbd with args and returns its stdout, stderr and
// exit status.
func runXlbd(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "xlbd"), args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("run xlbd %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// writeFiles writes name -> content under dir (names may hold a directory).
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (-update rewrites it)\n--- got:\n%s\n--- want:\n%s", path, got, want)
	}
}

const goodConf = `! two services, one with a checker
global_defs {
    router_id test
    xdp_interface eth0 eth1
}
virtual_server 198.18.0.100 80 {
    lvs_sched wrr
    lvs_method NAT
    real_server 198.18.1.2 80 {
        weight 3
        TCP_CHECK {
            connect_timeout 2.5
        }
    }
    real_server 198.18.1.3 8080 {
        weight 1
    }
}
virtual_server 198.18.0.100 53 {
    protocol UDP
    lvs_sched rr
    lvs_method DR
    persistence_timeout
    real_server 198.18.1.2 53 {
    }
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        198.18.0.100/24
    }
}
`

// xlbd -t checks a file without touching the system, prints every error
// with its position, and exits 0 or 1.
func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		desc  string
		files map[string]string // under a fresh directory; xlb.conf is checked
		args  []string          // more arguments
		code  int
		// golden names testdata/check-GOLDEN.out: stdout and stderr, the
		// directory shown as $DIR.
		golden string
	}{
		{desc: "valid file", files: map[string]string{"xlb.conf": goodConf}, golden: "ok"},
		{desc: "-i overrides xdp_interface", files: map[string]string{"xlb.conf": goodConf}, args: []string{"-i", "veth9"}, golden: "ok-flag-if"},
		{
			desc: "every error of the file, in order, with positions",
			files: map[string]string{"xlb.conf": `virtual_server 198.18.0.100 80 {
    lvs_sched rr
    lvs_metod NAT
    real_server 198.18.1.2 80 { weight 70000 }
    real_server 198.18.1.2 80 { weight 1 }
    real_server 2001:db8:1::2 80 { weight 1 }
}
virtual_server 198.18.0.100 80 {
    lvs_sched rr
}
virtual_server 198.18.0.101 80 {
    lvs_sched rr
    notification_email ops@example.test
}
`},
			code: 1, golden: "errors",
		},
		{
			desc: "include loop",
			files: map[string]string{
				"xlb.conf":      "include conf.d/a.conf\n",
				"conf.d/a.conf": "include b.conf\n",
				"conf.d/b.conf": "virtual_server 198.18.0.100 80 {\n    lvs_sched rr\n}\ninclude a.conf\n",
			},
			code: 1, golden: "include-loop",
		},
		{
			desc: "included file cannot be read",
			files: map[string]string{
				"xlb.conf":          "global_defs {\n    router_id x\n}\ninclude conf.d\n",
				"conf.d/.keep":      "",
				"other/placeholder": "",
			},
			code: 1, golden: "include-unreadable",
		},
		{
			desc:  "file cannot be read",
			files: map[string]string{"other.conf": "global_defs {\n}\n"},
			code:  1, golden: "missing",
		},
		{
			desc: "parses, but the data plane does not support it",
			files: map[string]string{"xlb.conf": `virtual_server_group web {
    198.18.0.100-102 80
}
virtual_server group web {
    lvs_sched mh
    real_server 198.18.1.2 80 {
    }
}
virtual_server 198.18.0.100 443 {
    lvs_method TUN
    real_server 198.18.1.2 443 {
    }
}
virtual_server 2001:db8::100 80 {
    lvs_sched rr
    real_server 2001:db8:1::2 80 {
    }
}
`},
			code: 1, golden: "unsupported",
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tc.files)
			pinDir := filepath.Join(dir, "bpffs")
			stdout, stderr, code := runXlbd(t, append([]string{"-t", "-f", filepath.Join(dir, "xlb.conf"), "--bpffs", pinDir}, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			if tc.code == 0 && stderr != "" {
				t.Errorf("a valid file printed to stderr:\n%s", stderr)
			}
			if tc.code != 0 && !strings.Contains(stderr, "test failed") {
				t.Errorf("an invalid file does not say the test failed:\n%s", stderr)
			}
			golden(t, "check-"+tc.golden+".out", strings.ReplaceAll("stdout:\n"+stdout+"stderr:\n"+stderr, dir, "$DIR"))
			if _, err := os.Stat(pinDir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("xlbd -t created %s", pinDir)
			}
		})
	}
}

// Every error line of -t is file:line:col: message, and the summary counts
// them.
func TestCheckErrorFormat(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "xlb.conf")
	writeFiles(t, dir, map[string]string{"xlb.conf": "virtual_server 198.18.0.100 0 {\n  lvs_sched nosuch\n  protocol SCTP\n  real_server 198.18.1.2 {\n    weight -1\n  }\n}\nnosuch_block {\n}\n"})
	_, stderr, code := runXlbd(t, "-t", "-f", file)
	if code != 1 {
		t.Fatalf("exit status %d, want 1:\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	var errs []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "xlbd: ") {
			errs = append(errs, l)
		}
	}
	wantPos := []string{file + ":1:29: ", file + ":2:13: ", file + ":3:12: ", file + ":5:12: ", file + ":8:1: "}
	if len(errs) != len(wantPos) {
		t.Fatalf("%d error lines, want %d (one per error):\n%s", len(errs), len(wantPos), stderr)
	}
	for i, e := range errs {
		if !strings.HasPrefix(e, wantPos[i]) || len(e) <= len(wantPos[i]) {
			t.Errorf("error %d is %q, want it to start with %q and say what is wrong", i+1, e, wantPos[i])
		}
	}
	if want := "xlbd: " + file + ": 5 error(s)"; !strings.Contains(stderr, want) {
		t.Errorf("no summary %q:\n%s", want, stderr)
	}
}

func TestFlagConflicts(t *testing.T) {
	for _, tc := range []struct {
		desc string
		args []string
		want string
	}{
		{"-t with --dump", []string{"-t", "--dump", "-f", "/nonexistent"}, "exclude each other"},
		{"unknown flag", []string{"--nosuch"}, "nosuch"},
		{"stray argument", []string{"-t", "xlb.conf"}, `unexpected argument "xlb.conf"`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, stderr, code := runXlbd(t, tc.args...)
			if code != 2 {
				t.Errorf("exit status %d, want 2 (usage)", code)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, stderr)
			}
		})
	}
}

// clearPositions zeroes every config.Position reachable from v (a pointer),
// so that configurations parsed from different files compare equal when
// they say the same.
func clearPositions(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			clearPositions(v.Elem())
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[config.Position]() {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				clearPositions(v.Field(i))
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			clearPositions(v.Index(i))
		}
	}
}

func dumpString(t *testing.T, cfg *config.Config) string {
	t.Helper()
	var b strings.Builder
	if err := dumpConfig(&b, cfg); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// The dump parses again to the same configuration, and dumping that gives
// the same text.
func TestDumpRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		desc  string
		files map[string]string
	}{
		{desc: "two services, checker, VRRP", files: map[string]string{"xlb.conf": goodConf}},
		{desc: "data plane settings: timeouts, Maglev size, all-ports service", files: map[string]string{"xlb.conf": `global_defs {
    lvs_timeouts tcp 7200 udp 60
    expire_nodest_conn
}
virtual_server 198.18.0.100 80 {
    lvs_sched mh
    mh_table_size 251
    mh-port
    protocol TCP
    real_server 198.18.1.2 80 {
    }
}
virtual_server 198.18.0.101 0 {
    lvs_sched rr
    persistence_timeout 600
    protocol TCP
    real_server 198.18.1.2 0 {
    }
}
`}},
		{desc: "group members take their own ports", files: map[string]string{"xlb.conf": `virtual_server_group g {
    198.18.0.100 80
    198.18.0.100 8080
    198.18.0.101/31 81
}
virtual_server group g {
    lvs_sched rr
    sorry_server 198.18.2.1
    real_server 198.18.1.2 {
        HTTP_GET {
            url {
                path /
            }
        }
        TCP_CHECK {
            connect_port 22
        }
    }
    real_server 198.18.1.3 9000 {
        weight 4
        TCP_CHECK {
        }
    }
}
virtual_server 198.18.0.102 80 {
    lvs_sched rr
    real_server 198.18.1.2 80 {
    }
}
`}},
		{desc: "quoting and odd values", files: map[string]string{"xlb.conf": `global_defs {
    router_id "lvs a!#{}"
    script_user "user name"
}
virtual_server 198.18.0.100 80 {
    lvs_sched rr
    delay_loop 0.29
    virtualhost 'host with "quotes"'
    quorum_up "/bin/echo 'up now' \\ \t tab"
    real_server 198.18.1.2 80 {
        notify_up "/bin/x" root wheel
        HTTP_GET {
            delay_before_retry 4.35
            warmup 0.000001
            connect_timeout 1.1
            url {
                path "/a b?c=#1"
                regex "(?i)^ok\\s+$"
                status_code 200 204 300-399
            }
        }
        MISC_CHECK {
            misc_path "/bin/true 'a b'"
            user nobody nogroup
        }
    }
}
vrrp_script "chk one" {
    script "/bin/sh -c 'exit 0'"
    user nobody
    timeout 5
    weight 10 reverse
}
vrrp_track_process p {
    process "my proc" --flag "two words"
    quorum 2
    quorum_max 3
    full_command
}
vrrp_track_file f {
    file "/run/x y"
    init_file 5 overwrite
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 1
    priority 255
    authentication {
        auth_type PASS
        auth_pass "p w!"
    }
    virtual_ipaddress {
        198.18.0.100/24 brd 198.18.0.255 dev eth0 scope link label eth0:1
    }
    track_script {
        "chk one"
    }
    track_file {
        f weight -3
    }
    track_process {
        p weight 2 reverse
    }
    notify "/bin/n 'x y'"
}
vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 2
    virtual_ipaddress {
        198.18.0.101
    }
}
vrrp_sync_group "G 1" {
    group {
        VI_2
    }
    track_interface {
        eth1 weight 7
    }
    notify_stop /bin/stop
}
SSL {
    ca /etc/ca.pem
    certificate /etc/c.pem
    key /etc/k.pem
}
`}},
		{desc: "the config package's director fixture (includes, groups, every block)", files: nil},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			file := filepath.Join("..", "..", "control", "config", "testdata", "director", "keepalived.conf")
			if tc.files != nil {
				dir := t.TempDir()
				writeFiles(t, dir, tc.files)
				file = filepath.Join(dir, "xlb.conf")
			}
			cfg1, err := config.ParseFile(file)
			if err != nil {
				t.Fatalf("parse the input: %v", err)
			}
			out1 := dumpString(t, cfg1)
			cfg2, err := config.Parse("dump.conf", []byte(out1))
			if err != nil {
				t.Fatalf("the dump does not parse: %v\n%s", err, out1)
			}
			clearPositions(reflect.ValueOf(cfg1))
			clearPositions(reflect.ValueOf(cfg2))
			if !reflect.DeepEqual(cfg1, cfg2) {
				t.Errorf("the dump parses to another configuration:\n%s\n%s", diffConfigs(cfg1, cfg2), out1)
			}
			if out2 := dumpString(t, cfg2); out2 != out1 {
				t.Errorf("dumping the dump gives another text:\n--- first:\n%s\n--- second:\n%s", out1, out2)
			}
		})
	}
}

// diffConfigs names the first fields where a and b differ.
func diffConfigs(a, b *config.Config) string {
	var out []string
	var walk func(path string, x, y reflect.Value)
	walk = func(path string, x, y reflect.Value) {
		if len(out) >= 10 {
			return
		}
		if x.Kind() != y.Kind() {
			out = append(out, path+": kinds differ")
			return
		}
		switch x.Kind() {
		case reflect.Pointer:
			if x.IsNil() || y.IsNil() {
				if x.IsNil() != y.IsNil() {
					out = append(out, path+": nil on one side")
				}
				return
			}
			walk(path, x.Elem(), y.Elem())
		case reflect.Struct:
			if x.Type().PkgPath() != reflect.TypeFor[config.Config]().PkgPath() {
				if !reflect.DeepEqual(x.Interface(), y.Interface()) {
					out = append(out, path+": "+toString(x)+" != "+toString(y))
				}
				return
			}
			for i := range x.NumField() {
				walk(path+"."+x.Type().Field(i).Name, x.Field(i), y.Field(i))
			}
		case reflect.Slice:
			if x.Len() != y.Len() {
				out = append(out, path+": lengths differ")
				return
			}
			for i := range x.Len() {
				walk(path+"["+toString(reflect.ValueOf(i))+"]", x.Index(i), y.Index(i))
			}
		default:
			if !reflect.DeepEqual(x.Interface(), y.Interface()) {
				out = append(out, path+": "+toString(x)+" != "+toString(y))
			}
		}
	}
	walk("Config", reflect.ValueOf(a), reflect.ValueOf(b))
	return strings.Join(out, "\n")
}

func toString(v reflect.Value) string { return fmt.Sprint(v.Interface()) }

// xlbd --dump prints the effective configuration: golden output, and the
// same through the binary as through dumpConfig.
func TestDumpCommand(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"xlb.conf": goodConf})
	stdout, stderr, code := runXlbd(t, "--dump", "-f", filepath.Join(dir, "xlb.conf"))
	if code != 0 || stderr != "" {
		t.Fatalf("exit status %d, stderr:\n%s", code, stderr)
	}
	golden(t, "dump-good.conf", strings.ReplaceAll(stdout, dir, "$DIR"))

	// A file with errors is not dumped: every error is printed.
	writeFiles(t, dir, map[string]string{"bad.conf": "virtual_server 198.18.0.100 80 {\n    lvs_sched nosuch\n    weight 1\n}\n"})
	stdout, stderr, code = runXlbd(t, "--dump", "-f", filepath.Join(dir, "bad.conf"))
	if code != 1 || stdout != "" {
		t.Errorf("bad file: exit status %d, stdout %q; want 1 and nothing", code, stdout)
	}
	for _, want := range []string{"bad.conf:2:15: ", "bad.conf:3:5: ", "2 error(s)"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("bad file: stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// unitDirectives reads a systemd unit into directive -> values, in order.
func unitDirectives(t *testing.T, path string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not a directive: %q", path, line)
		}
		out[k] = append(out[k], v)
	}
	return out
}

// The systemd unit restarts xlbd on failure and its xlbd command lines are
// ones xlbd accepts: the config check before start and reload passes on a
// valid file and stops on a broken one.
func TestSystemdUnit(t *testing.T) {
	unit := unitDirectives(t, filepath.Join("..", "..", "dist", "xlbd.service"))
	for _, want := range []struct{ key, value string }{
		{"Restart", "on-failure"},
		{"Type", "simple"},
		{"KillSignal", "SIGTERM"},
		{"RuntimeDirectory", "xlb"},
	} {
		if got := unit[want.key]; len(got) != 1 || got[0] != want.value {
			t.Errorf("%s=%v, want %s", want.key, got, want.value)
		}
	}
	const installed = "/usr/local/sbin/xlbd"
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"good.conf": goodConf, "bad.conf": "virtual_server 198.18.0.100 80 {\n    lvs_sched nosuch\n}\n"})
	// run runs one of the unit's xlbd command lines against conf, with
	// XLBD_OPTS empty.
	run := func(cmdline, conf string, extra ...string) (string, int) {
		t.Helper()
		f := strings.Fields(cmdline)
		if len(f) == 0 || f[0] != installed {
			t.Fatalf("command %q does not run %s", cmdline, installed)
		}
		var args []string
		for _, a := range f[1:] {
			switch a {
			case "$XLBD_OPTS":
			case "/etc/xlb/xlb.conf":
				args = append(args, conf)
			default:
				args = append(args, a)
			}
		}
		stdout, stderr, code := runXlbd(t, append(args, extra...)...)
		return stdout + stderr, code
	}
	checks := append(append([]string{}, unit["ExecStartPre"]...), unit["ExecReload"][0])
	if len(unit["ExecStartPre"]) != 1 || len(unit["ExecReload"]) != 2 || !strings.Contains(unit["ExecReload"][1], "kill -HUP $MAINPID") {
		t.Fatalf("want one ExecStartPre (the check) and ExecReload = check, kill -HUP $MAINPID; got %v and %v", unit["ExecStartPre"], unit["ExecReload"])
	}
	for _, c := range checks {
		if !strings.Contains(c, " -t ") {
			t.Errorf("%q does not check the configuration (-t)", c)
		}
		if out, code := run(c, filepath.Join(dir, "good.conf")); code != 0 {
			t.Errorf("%q on a valid file: exit status %d\n%s", c, code, out)
		}
		if out, code := run(c, filepath.Join(dir, "bad.conf")); code != 1 || !strings.Contains(out, "bad.conf:2:15:") {
			t.Errorf("%q on a broken file: exit status %d, want 1 with the error's position\n%s", c, code, out)
		}
	}
	// ExecStart's flags are the daemon's: with -t added they check the file.
	if len(unit["ExecStart"]) != 1 || !strings.Contains(unit["ExecStart"][0], "-f /etc/xlb/xlb.conf") {
		t.Fatalf("ExecStart=%v, want one command reading /etc/xlb/xlb.conf", unit["ExecStart"])
	}
	if out, code := run(unit["ExecStart"][0], filepath.Join(dir, "good.conf"), "-t"); code != 0 {
		t.Errorf("ExecStart's flags are not xlbd's: exit status %d\n%s", code, out)
	}
}

// codeBlocks returns the fenced code blocks of a Markdown file.
func codeBlocks(t *testing.T, path string) []string {
	t.Helper()
	md, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for i, part := range strings.Split(string(md), "```") {
		if i%2 == 1 {
			_, body, _ := strings.Cut(part, "\n") // drop the info string
			blocks = append(blocks, body)
		}
	}
	return blocks
}

// checkIn runs xlbd -t on content saved as name in a fresh directory, from
// that directory, so positions read name:line:col.
func checkIn(t *testing.T, name, content string) (stdout, stderr string, code int) {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{name: content})
	cmd := exec.Command(filepath.Join(binDir, "xlbd"), "-t", "-f", name)
	cmd.Dir = dir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	if exit != nil {
		code = exit.ExitCode()
	}
	return out.String(), errOut.String(), code
}

// The migration guide's worked examples are what xlbd says: the xlb.conf
// files pass xlbd -t, and the keepalived.conf fails with exactly the
// output shown, in both passes.
func TestMigrationExamples(t *testing.T) {
	const doc = "../../docs/migration.md"
	blocks := codeBlocks(t, doc)
	passed := 0
	for i, b := range blocks {
		switch {
		case strings.HasPrefix(b, "! /etc/xlb/xlb.conf"):
			stdout, stderr, code := checkIn(t, "xlb.conf", b)
			if code != 0 || !strings.Contains(stdout, "test is successful") {
				t.Errorf("%s: example %d does not pass xlbd -t (exit status %d):\n%s%s", doc, i+1, code, stdout, stderr)
			}
			passed++
		case strings.HasPrefix(b, "! /etc/keepalived/keepalived.conf"):
			if i+2 >= len(blocks) {
				t.Fatalf("%s: the keepalived.conf example is not followed by the output of both passes", doc)
			}
			_, stderr, code := checkIn(t, "keepalived.conf", b)
			if code != 1 || stderr != blocks[i+1] {
				t.Errorf("%s: xlbd -t on the keepalived.conf example exits %d and prints\n%s\nthe guide shows\n%s", doc, code, stderr, blocks[i+1])
			}
			// The second pass: the e-mail lines (3 to 7) and the fwmark
			// block deleted.
			lines := strings.Split(b, "\n")
			fixed := append(append([]string{}, lines[:2]...), lines[7:]...)
			for j, l := range fixed {
				if strings.HasPrefix(l, "virtual_server fwmark") {
					fixed = fixed[:j]
					break
				}
			}
			_, stderr, code = checkIn(t, "keepalived.conf", strings.Join(fixed, "\n"))
			if code != 1 || stderr != blocks[i+2] {
				t.Errorf("%s: the second pass exits %d and prints\n%s\nthe guide shows\n%s", doc, code, stderr, blocks[i+2])
			}
		}
	}
	if passed != 2 {
		t.Errorf("%s: %d xlb.conf examples (blocks starting \"! /etc/xlb/xlb.conf\"), want 2", doc, passed)
	}
}

// FuzzDumpRoundTrip: whatever parses dumps to a file that parses to the same
// configuration.
func FuzzDumpRoundTrip(f *testing.F) {
	f.Add(goodConf)
	for _, name := range []string{"dump-good.conf"} {
		if b, err := os.ReadFile(filepath.Join("testdata", name)); err == nil {
			f.Add(string(b))
		}
	}
	if b, err := os.ReadFile("../../docs/migration.md"); err == nil {
		for i, part := range strings.Split(string(b), "```") {
			if i%2 == 1 && strings.Contains(part, "virtual_server") {
				f.Add(part)
			}
		}
	}
	f.Add("virtual_server 198.18.0.1 1 {\n delay_loop 4.35\n real_server 198.18.1.1 { TCP_CHECK { warmup 0.29 connect_timeout 1.1 } }\n}\n")
	f.Fuzz(func(t *testing.T, src string) {
		if strings.Contains(src, "include") {
			return // would read files of the machine
		}
		cfg1, err := config.Parse("in.conf", []byte(src))
		if err != nil {
			return
		}
		var b strings.Builder
		if err := dumpConfig(&b, cfg1); err != nil {
			t.Fatal(err)
		}
		cfg2, err := config.Parse("dump.conf", []byte(b.String()))
		if err != nil {
			t.Fatalf("the dump does not parse: %v\n--- input:\n%s\n--- dump:\n%s", err, src, b.String())
		}
		clearPositions(reflect.ValueOf(cfg1))
		clearPositions(reflect.ValueOf(cfg2))
		if !reflect.DeepEqual(cfg1, cfg2) {
			t.Fatalf("the dump parses to another configuration:\n%s\n--- input:\n%s\n--- dump:\n%s", diffConfigs(cfg1, cfg2), src, b.String())
		}
	})
}

// xlbd -t and --dump make no bpf(2), socket(2) (so no netlink) or mount(2)
// call, and create nothing: strace watches them.
func TestCheckTouchesNothing(t *testing.T) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		if os.Getenv("XLB_REQUIRE_PRIVILEGED") == "1" {
			t.Fatal("strace is not installed (apt-get install strace)")
		}
		t.Skip("strace is not installed (apt-get install strace): cannot watch xlbd's system calls")
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"xlb.conf": goodConf})
	for _, mode := range []string{"-t", "--dump"} {
		t.Run(mode, func(t *testing.T) {
			trace := filepath.Join(dir, "trace"+mode)
			cmd := exec.Command(strace, "-f", "-qq", "-o", trace, "-e", "trace=bpf,socket,mount,mkdir,mkdirat", "-e", "signal=none",
				filepath.Join(binDir, "xlbd"), mode, "-f", filepath.Join(dir, "xlb.conf"), "--bpffs", filepath.Join(dir, "bpffs"))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("xlbd %s under strace: %v\n%s", mode, err, out)
			}
			b, err := os.ReadFile(trace)
			if err != nil {
				t.Fatal(err)
			}
			var touched []string
			for _, call := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				// Looking up script users asks NSS (nscd, systemd-userdb)
				// over local sockets: reading, not touching.
				if call == "" || strings.Contains(call, "socket(AF_UNIX,") {
					continue
				}
				touched = append(touched, call)
			}
			if len(touched) > 0 {
				t.Errorf("xlbd %s touched the system:\n%s", mode, strings.Join(touched, "\n"))
			}
		})
	}
}

// -t refuses what the daemon would refuse at start: here a checker whose
// options health checking cannot run.
func TestCheckRefusesBadChecker(t *testing.T) {
	file := filepath.Join(t.TempDir(), "xlb.conf")
	conf := "virtual_server 198.18.0.100 80 {\n    lvs_sched rr\n    protocol TCP\n    real_server 198.18.1.2 80 {\n        TCP_CHECK {\n            connect_timeout 0\n        }\n    }\n}\n"
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(binDir, "xlbd"), "-t", "-f", file).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("xlbd -t: %v, want exit status 1; output:\n%s", err, out)
	}
	if !strings.Contains(string(out), file+":5:9:") || !strings.Contains(string(out), "connect_timeout") {
		t.Errorf("xlbd -t does not name the checker's position and connect_timeout:\n%s", out)
	}
}
