package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// GoBench is one result line of `go test -bench`.
type GoBench struct {
	Name    string             `json:"name"`
	N       int64              `json:"n"`
	Metrics map[string]float64 `json:"metrics"`
}

// parseGoBench reads the result lines of `go test -bench` output: the
// benchmark's name (without the -GOMAXPROCS suffix), the iteration count and
// every "value unit" pair after it.
func parseGoBench(r io.Reader) ([]GoBench, error) {
	var out []GoBench
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		fields := strings.Split(line, "\t")
		if len(fields) < 2 {
			continue
		}
		name := strings.TrimSpace(fields[0])
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		n, err := strconv.ParseInt(strings.TrimSpace(fields[1]), 10, 64)
		if err != nil {
			// A line that names a benchmark but is not a result (a log
			// line of the benchmark).
			continue
		}
		b := GoBench{Name: name, N: n, Metrics: make(map[string]float64)}
		for _, f := range fields[2:] {
			parts := strings.Fields(f)
			if len(parts) != 2 {
				return nil, fmt.Errorf("parse benchmark line %q: field %q is not \"value unit\"", line, f)
			}
			v, err := strconv.ParseFloat(parts[0], 64)
			if err != nil {
				return nil, fmt.Errorf("parse benchmark line %q: %w", line, err)
			}
			b.Metrics[parts[1]] = v
		}
		out = append(out, b)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read benchmark output: %w", err)
	}
	return out, nil
}

// runGoBench runs `go test -run ^$ -bench PATTERN ARGS PKG` with a time
// limit, echoes its output to stderr and returns the parsed results.
func runGoBench(ctx context.Context, pkg, pattern string, limit time.Duration, args ...string) ([]GoBench, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	argv := append([]string{"test", "-run", "^$", "-bench", pattern, "-timeout", limit.String()}, args...)
	argv = append(argv, pkg)
	cmd := exec.CommandContext(ctx, goTool(), argv...)
	var buf bytes.Buffer
	cmd.Stdout = io.MultiWriter(&buf, os.Stderr)
	cmd.Stderr = os.Stderr
	logf("go %s", strings.Join(argv, " "))
	err := cmd.Run()
	res, perr := parseGoBench(&buf)
	if err != nil {
		return res, fmt.Errorf("run benchmarks %s in %s: %w", pattern, pkg, err)
	}
	return res, perr
}

func goTool() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	return "go"
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}
