package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// completionName is the completion command's name; the script generators
// compare with it (referring to completionCmd from them would be an
// initialization cycle).
const completionName = "completion"

// completionShells are the shells xlb writes completion scripts for.
var completionShells = []struct {
	name  string
	write func(w io.Writer, t compTable)
}{
	{"bash", writeBashCompletion},
	{"zsh", writeZshCompletion},
	{"fish", writeFishCompletion},
}

func shellNames() []string {
	var s []string
	for _, sh := range completionShells {
		s = append(s, sh.name)
	}
	return s
}

var completionCmd = &command{
	name:    completionName,
	args:    strings.Join(shellNames(), "|"),
	summary: "print a shell completion script for xlb (bash, zsh or fish)",
	examples: []string{
		"source <(xlb completion bash)",
		"xlb completion bash > /etc/bash_completion.d/xlb",
		"source <(xlb completion zsh)          # after compinit, e.g. in ~/.zshrc",
		`xlb completion zsh > "${fpath[1]}/_xlb"`,
		"xlb completion fish | source",
		"xlb completion fish > ~/.config/fish/completions/xlb.fish",
	},
	run: runCompletion,
}

func runCompletion(e *env, _ *flag.FlagSet, args []string) error {
	names := shellNames()
	if len(args) != 1 {
		return usageErr("name one shell: %s", strings.Join(names, ", "))
	}
	for _, sh := range completionShells {
		if sh.name == args[0] {
			sh.write(e.stdout, completionTable())
			return nil
		}
	}
	return usageErr("unsupported shell %q; supported: %s", args[0], strings.Join(names, ", "))
}

// compFlag is a flag as completion offers it.
type compFlag struct {
	name  string // without dashes
	usage string // flag.UnquoteUsage's, one line
	arg   string // the value's name; "" for a boolean flag
}

// dashed is the flag as completion writes it: -o for a one-letter flag,
// --name otherwise (the flag package takes either form).
func (f compFlag) dashed() string {
	if len(f.name) == 1 {
		return "-" + f.name
	}
	return "--" + f.name
}

// compCommand is a command with its flags and the words it takes.
type compCommand struct {
	name, summary string
	flags         []compFlag // its own, without the global ones
	words         []string   // its positional arguments, when they are a fixed set
}

// compTable is everything a completion script offers, derived from the
// commands table and each command's flags.
type compTable struct {
	globals  []compFlag
	commands []compCommand
}

func flagsOf(fs *flag.FlagSet, skip map[string]bool) []compFlag {
	var fl []compFlag
	fs.VisitAll(func(f *flag.Flag) {
		if skip[f.Name] {
			return
		}
		arg, usage := flag.UnquoteUsage(f)
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			arg = ""
		}
		fl = append(fl, compFlag{name: f.Name, usage: strings.Join(strings.Fields(usage), " "), arg: arg})
	})
	return fl
}

func completionTable() compTable {
	gfs := flag.NewFlagSet("xlb", flag.ContinueOnError)
	bpffs, socket := defaultBPFFS, defaultSocket
	globalFlags(gfs, &bpffs, &socket)
	t := compTable{globals: flagsOf(gfs, nil)}
	isGlobal := make(map[string]bool)
	for _, g := range t.globals {
		isGlobal[g.name] = true
	}
	var names []string
	for _, c := range commands {
		names = append(names, c.name)
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		if c.flags != nil {
			c.flags(fs)
		}
		cc := compCommand{name: c.name, summary: c.summary, flags: flagsOf(fs, isGlobal)}
		if c.name == completionName {
			cc.words = shellNames()
		}
		t.commands = append(t.commands, cc)
	}
	// help is run's own: xlb help [COMMAND].
	t.commands = append(t.commands, compCommand{name: "help", summary: "list the commands, or print one command's flags and examples", words: names})
	return t
}

// dashedNames is every flag in both forms the flag package takes.
func dashedNames(fl []compFlag) []string {
	var s []string
	for _, f := range fl {
		s = append(s, "-"+f.name, "--"+f.name)
	}
	return s
}

// valueGlobals are the global flags that take a value, both forms: the
// scripts skip that value when they look for the command word.
func (t compTable) valueGlobals() []string {
	var v []compFlag
	for _, g := range t.globals {
		if g.arg != "" {
			v = append(v, g)
		}
	}
	return dashedNames(v)
}

func writeBashCompletion(w io.Writer, t compTable) {
	var names []string
	var cases strings.Builder
	for _, c := range t.commands {
		names = append(names, c.name)
		var opts []string
		for _, f := range c.flags {
			opts = append(opts, f.dashed())
		}
		for _, g := range t.globals {
			opts = append(opts, g.dashed())
		}
		fmt.Fprintf(&cases, "\t\t%s) opts=%q args=%q ;;\n", c.name, strings.Join(opts, " "), strings.Join(c.words, " "))
	}
	var globals []string
	for _, g := range t.globals {
		globals = append(globals, g.dashed())
	}
	fmt.Fprintf(w, `# bash completion for xlb (xlb completion bash)
_xlb() {
	local cur=${COMP_WORDS[COMP_CWORD]} cmd="" i opts args
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		%s) ((i++)) ;;
		-*) ;;
		*) cmd=${COMP_WORDS[i]}; break ;;
		esac
	done
	if [[ -z $cmd ]]; then
		COMPREPLY=($(compgen -W "%s %s" -- "$cur"))
		return
	fi
	case $cmd in
%s		*) opts="" args="" ;;
	esac
	# Flags when a dash is typed, the command's arguments otherwise.
	[[ $cur == -* ]] || opts=$args
	COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}
complete -F _xlb xlb
`, strings.Join(t.valueGlobals(), "|"), strings.Join(names, " "), strings.Join(globals, " "), cases.String())
}

// zshQuote quotes s for a single-quoted zsh word.
func zshQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// zshSpec is f as an _arguments spec: --name[usage] or
// --name[usage]:arg:action.
func zshSpec(f compFlag) string {
	usage := strings.NewReplacer(`\`, `\\`, "[", `\[`, "]", `\]`).Replace(f.usage)
	spec := fmt.Sprintf("%s[%s]", f.dashed(), usage)
	if f.arg != "" {
		action := " "
		switch strings.ToLower(f.arg) {
		case "directory", "dir":
			action = "_files -/"
		case "path", "file":
			action = "_files"
		}
		spec += ":" + strings.NewReplacer(`\`, `\\`, ":", `\:`).Replace(f.arg) + ":" + action
	}
	return zshQuote(spec)
}

func writeZshCompletion(w io.Writer, t compTable) {
	var b strings.Builder
	b.WriteString(`#compdef xlb
# zsh completion for xlb (xlb completion zsh)
_xlb() {
	local -a xlb_commands globals
	local i cmd="" state
	xlb_commands=(
`)
	for _, c := range t.commands {
		fmt.Fprintf(&b, "\t\t%s\n", zshQuote(c.name+":"+c.summary))
	}
	b.WriteString("\t)\n\tglobals=(\n")
	for _, g := range t.globals {
		fmt.Fprintf(&b, "\t\t%s\n", zshSpec(g))
	}
	fmt.Fprintf(&b, `	)
	for ((i = 2; i < CURRENT; i++)); do
		case ${words[i]} in
		%s) ((i++)) ;;
		-*) ;;
		*) cmd=${words[i]}; break ;;
		esac
	done
	if [[ -z $cmd ]]; then
		_arguments $globals '1:command:->command'
		[[ $state == command ]] && _describe -t commands 'xlb command' xlb_commands
		return 0
	fi
	# From here on the command is the first word.
	shift $((i - 1)) words
	((CURRENT -= i - 1))
	case $cmd in
`, strings.Join(t.valueGlobals(), "|"))
	for _, c := range t.commands {
		fmt.Fprintf(&b, "\t%s)\n\t\t_arguments $globals", c.name)
		for _, f := range c.flags {
			fmt.Fprintf(&b, " \\\n\t\t\t%s", zshSpec(f))
		}
		if len(c.words) > 0 {
			fmt.Fprintf(&b, " \\\n\t\t\t%s", zshQuote("1:"+c.name+" argument:("+strings.Join(c.words, " ")+")"))
		} else {
			fmt.Fprintf(&b, " \\\n\t\t\t%s", zshQuote("*:argument: "))
		}
		b.WriteString("\n\t\t;;\n")
	}
	b.WriteString(`	esac
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
	_xlb "$@"
else
	compdef _xlb xlb
fi
`)
	io.WriteString(w, b.String())
}

// fishQuote quotes s for a single-quoted fish word.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(s) + "'"
}

// fishFlag is f as the options of fish's complete builtin.
func fishFlag(f compFlag) string {
	s := "-l " + f.name
	if len(f.name) == 1 {
		s = "-s " + f.name
	}
	if f.arg != "" {
		s += " -r"
		switch strings.ToLower(f.arg) {
		case "directory", "dir":
			s += " -a '(__fish_complete_directories)'"
		case "path", "file":
			s += " -F"
		}
	}
	return s + " -d " + fishQuote(f.usage)
}

func writeFishCompletion(w io.Writer, t compTable) {
	var b strings.Builder
	fmt.Fprintf(&b, `# fish completion for xlb (xlb completion fish)

# __xlb_cmd prints the command word of the command line being completed.
function __xlb_cmd
	set -l toks (commandline -opc)
	set -e toks[1]
	while set -q toks[1]
		switch $toks[1]
		case %s
			set -e toks[1]
		case '-*'
		case '*'
			echo $toks[1]
			return 0
		end
		set -e toks[1]
	end
	return 1
end

function __xlb_using
	set -l c (__xlb_cmd)
	test "$c" = "$argv[1]"
end

complete -c xlb -f
`, strings.Join(t.valueGlobals(), " "))
	for _, g := range t.globals {
		fmt.Fprintf(&b, "complete -c xlb %s\n", fishFlag(g))
	}
	for _, c := range t.commands {
		fmt.Fprintf(&b, "\ncomplete -c xlb -n 'not __xlb_cmd' -a %s -d %s\n", c.name, fishQuote(c.summary))
		cond := fishQuote("__xlb_using " + c.name)
		for _, f := range c.flags {
			fmt.Fprintf(&b, "complete -c xlb -n %s %s\n", cond, fishFlag(f))
		}
		if len(c.words) > 0 {
			fmt.Fprintf(&b, "complete -c xlb -n %s -a %s\n", cond, fishQuote(strings.Join(c.words, " ")))
		}
	}
	io.WriteString(w, b.String())
}
