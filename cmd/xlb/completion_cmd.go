package main

import (
	"flag"
	"fmt"
	"strings"
)

var completionCmd = &command{
	name:     "completion",
	args:     "bash",
	summary:  "print a bash completion script for xlb",
	examples: []string{"source <(xlb completion bash)", "xlb completion bash > /etc/bash_completion.d/xlb"},
	run:      runCompletion,
}

func runCompletion(e *env, _ *flag.FlagSet, args []string) error {
	if len(args) != 1 || args[0] != "bash" {
		return usageErr("want 'bash'")
	}
	var names []string
	var cases strings.Builder
	for _, c := range commands {
		names = append(names, c.name)
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		fs.String("bpffs", "", "")
		fs.String("socket", "", "")
		if c.flags != nil {
			c.flags(fs)
		}
		var fl []string
		fs.VisitAll(func(f *flag.Flag) {
			if len(f.Name) == 1 {
				fl = append(fl, "-"+f.Name)
			} else {
				fl = append(fl, "--"+f.Name)
			}
		})
		fmt.Fprintf(&cases, "\t\t%s) opts=%q ;;\n", c.name, strings.Join(fl, " "))
	}
	fmt.Fprintf(e.stdout, `# bash completion for xlb
_xlb() {
	local cur=${COMP_WORDS[COMP_CWORD]} cmd="" i opts
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		--bpffs|--socket) ((i++)) ;;
		-*) ;;
		*) cmd=${COMP_WORDS[i]}; break ;;
		esac
	done
	if [[ -z $cmd ]]; then
		COMPREPLY=($(compgen -W "%s help --bpffs --socket" -- "$cur"))
		return
	fi
	case $cmd in
%s		*) opts="" ;;
	esac
	COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}
complete -F _xlb xlb
`, strings.Join(names, " "), cases.String())
	return nil
}
