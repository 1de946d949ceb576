package main

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// wantCompletion is what every script must offer, read from the commands
// table and each command's flag declarations (not from the completion
// code): each command's own flags in the form the flag package prints
// them, -o or --name.
func wantCompletion() (names []string, flags map[string][]string) {
	flags = make(map[string][]string)
	for _, c := range commands {
		names = append(names, c.name)
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		if c.flags != nil {
			c.flags(fs)
		}
		fs.VisitAll(func(f *flag.Flag) {
			d := "--" + f.Name
			if len(f.Name) == 1 {
				d = "-" + f.Name
			}
			flags[c.name] = append(flags[c.name], d)
		})
	}
	return names, flags
}

// The flags run accepts before and after every command.
var wantGlobals = []string{"--bpffs", "--socket"}

// section returns the part of a script that completes command name.
type section func(script, name string) string

func bashSection(script, name string) string {
	for _, l := range strings.Split(script, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), name+") opts=") {
			return strings.ReplaceAll(l, `"`, " ")
		}
	}
	return ""
}

func zshSection(script, name string) string {
	_, rest, ok := strings.Cut(script, "\n\t"+name+")\n")
	if !ok {
		return ""
	}
	body, _, _ := strings.Cut(rest, "\n\t\t;;")
	if strings.Contains(body, "_arguments $globals ") {
		// The global flags' specs, which the section names.
		_, g, _ := strings.Cut(script, "\n\tglobals=(\n")
		g, _, _ = strings.Cut(g, "\n\t)\n")
		body += "\n" + g
	}
	return body
}

// fishSection is the lines that apply after command name: its own and
// the unconditional ones (the global flags).
func fishSection(script, name string) string {
	var lines []string
	for _, l := range strings.Split(script, "\n") {
		if strings.Contains(l, "'__xlb_using "+name+"'") || strings.HasPrefix(l, "complete -c xlb -l ") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// How each script spells a flag in a command's section.
func bashFlag(f string) string    { return " " + f + " " }
func zshFlagSpec(f string) string { return "'" + f + "[" }
func fishFlagSpec(f string) string {
	if strings.HasPrefix(f, "--") {
		return " -l " + f[2:] + " "
	}
	return " -s " + f[1:] + " "
}

func TestCompletion(t *testing.T) {
	names, flags := wantCompletion()
	shells := []struct {
		shell   string
		section section
		flag    func(string) string
		// offers: how the script offers a command name in first place.
		offers func(name string) string
		// parse checks the script's syntax with the shell.
		parse []string
	}{
		{"bash", bashSection, bashFlag, func(n string) string { return " " + n + " " }, []string{"bash", "-n"}},
		{"zsh", zshSection, zshFlagSpec, func(n string) string { return "\n\t\t'" + n + ":" }, []string{"zsh", "-n"}},
		{"fish", fishSection, fishFlagSpec, func(n string) string { return "\ncomplete -c xlb -n 'not __xlb_cmd' -a " + n + " " }, []string{"fish", "--no-execute"}},
	}
	for _, sh := range shells {
		t.Run(sh.shell, func(t *testing.T) {
			out, errOut, code := runXlb(t, newFakeDP(), "completion", sh.shell)
			if code != 0 || errOut != "" {
				t.Fatalf("xlb completion %s: status %d, stderr %q", sh.shell, code, errOut)
			}
			for _, n := range names {
				sec := sh.section(out, n)
				if sec == "" {
					t.Errorf("%s script has no section for command %s", sh.shell, n)
					continue
				}
				for _, f := range append(slices.Clone(flags[n]), wantGlobals...) {
					if !strings.Contains(sec+" ", sh.flag(f)) {
						t.Errorf("%s script does not offer %s after %s (want %q in %q)", sh.shell, f, n, sh.flag(f), sec)
					}
				}
			}
			top := out
			if sh.shell == "bash" {
				// The words offered before the command.
				_, top, _ = strings.Cut(out, "[[ -z $cmd ]]")
				top, _, _ = strings.Cut(top, "\n\t\treturn")
				top = strings.ReplaceAll(top, `"`, " ")
			}
			for _, n := range append(slices.Clone(names), "help") {
				if !strings.Contains(top, sh.offers(n)) {
					t.Errorf("%s script does not offer command %s (want %q)", sh.shell, n, sh.offers(n))
				}
			}
			for _, shell := range []string{"bash", "zsh", "fish"} {
				if shell != sh.shell && strings.Contains(out, "completion for xlb (xlb completion "+shell+")") {
					t.Errorf("%s script is the %s one", sh.shell, shell)
				}
			}

			t.Run("parse", func(t *testing.T) {
				bin, err := exec.LookPath(sh.parse[0])
				if err != nil {
					t.Skipf("%s not installed, script syntax not checked (apt-get install -y %s)", sh.parse[0], sh.parse[0])
				}
				path := filepath.Join(t.TempDir(), "xlb."+sh.shell)
				if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				if msg, err := exec.Command(bin, append(sh.parse[1:], path)...).CombinedOutput(); err != nil || len(msg) > 0 {
					t.Errorf("%s %s: %v\n%s", strings.Join(sh.parse, " "), path, err, msg)
				}
			})
		})
	}
}

// completeWith runs shell code that sources the script and prints the
// completions of one command line, one per line.
func completeWith(t *testing.T, shell, script, code string) []string {
	t.Helper()
	bin, err := exec.LookPath(shell)
	if err != nil {
		t.Skipf("%s not installed, completions not run (apt-get install -y %s)", shell, shell)
	}
	path := filepath.Join(t.TempDir(), "xlb."+shell)
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", "source "+path+"; "+code)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir(), "XDG_DATA_HOME="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s -c %q: %v", shell, code, err)
	}
	var words []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if w, _, _ := strings.Cut(l, "\t"); w != "" {
			words = append(words, w)
		}
	}
	slices.Sort(words)
	return words
}

// The scripts complete what a user types: bash's and fish's run in the
// shell on command lines (zsh completes only inside its line editor).
func TestCompletionRuns(t *testing.T) {
	names, flags := wantCompletion()
	sorted := func(s ...[]string) []string {
		all := slices.Concat(s...)
		slices.Sort(all)
		return slices.Compact(all)
	}
	lines := []struct {
		desc  string
		words []string // the command line; the last word is being completed
		want  []string
	}{
		{"command after a global flag and its value", []string{"--bpffs", "/sys/fs/bpf/xlb-ns1", "co"}, []string{"completion", "conns"}},
		{"every conns flag", []string{"conns", "-"}, nil},
		{"flags of drain after its first flag", []string{"drain", "--wait=false", "--"}, nil},
		{"shells", []string{"completion", ""}, []string{"bash", "fish", "zsh"}},
		{"help's commands", []string{"help", ""}, sorted(names)},
	}
	lines[1].want = sorted(flags["conns"], wantGlobals)
	lines[2].want = sorted(flags["drain"], wantGlobals)
	for _, shell := range []string{"bash", "fish"} {
		t.Run(shell, func(t *testing.T) {
			script, _, code := runXlb(t, newFakeDP(), "completion", shell)
			if code != 0 {
				t.Fatalf("xlb completion %s: status %d", shell, code)
			}
			for _, l := range lines {
				var sh string
				if shell == "bash" {
					words := append([]string{"xlb"}, l.words...)
					var q []string
					for _, w := range words {
						q = append(q, "'"+w+"'")
					}
					sh = "COMP_WORDS=(" + strings.Join(q, " ") + "); COMP_CWORD=" + strconv.Itoa(len(words)-1) + `; _xlb; printf '%s\n' "${COMPREPLY[@]}"`
				} else {
					sh = "complete -C " + "'xlb " + strings.Join(l.words, " ") + "'"
				}
				got := completeWith(t, shell, script, sh)
				if !slices.Equal(got, l.want) {
					t.Errorf("%s: %s completes xlb %s to\n%q\nwant\n%q", l.desc, shell, strings.Join(l.words, " "), got, l.want)
				}
			}
		})
	}
}

func TestCompletionUnknownShell(t *testing.T) {
	for _, args := range [][]string{{"tcsh"}, {}, {"bash", "zsh"}} {
		out, errOut, code := runXlb(t, newFakeDP(), append([]string{"completion"}, args...)...)
		if code != 2 || out != "" {
			t.Errorf("xlb completion %v: status %d, stdout %q; want status 2 and no script", args, code, out)
		}
		first, _, _ := strings.Cut(errOut, "\n")
		for _, sh := range []string{"bash", "zsh", "fish"} {
			if !strings.Contains(first, sh) {
				t.Errorf("xlb completion %v: error %q does not name %s", args, first, sh)
			}
		}
		if len(args) == 1 && !strings.Contains(first, `"tcsh"`) {
			t.Errorf("xlb completion tcsh: error %q does not name the shell asked for", first)
		}
	}
}
