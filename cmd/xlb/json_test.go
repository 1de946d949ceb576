package main

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"testing"
)

func decodeList(t *testing.T, out string) jsonList {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(out)))
	dec.DisallowUnknownFields()
	var doc jsonList
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("decode xlb list -o json: %v\n%s", err, out)
	}
	return doc
}

// keys lists the object keys of a JSON document at every depth.
func keys(v any, into map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			into[k] = true
			keys(x, into)
		}
	case []any:
		for _, x := range v {
			keys(x, into)
		}
	}
}

// documentedKeys reads the JSON schema tables of docs/cli.md: key -> type.
func documentedKeys(t *testing.T) map[string]string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	// The schema table rows: | `key` | type | meaning |
	row := regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| (string|number|boolean|object|array|integer)[^|]*\\|")
	documented := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = m[2]
	}
	if len(documented) == 0 {
		t.Fatal("docs/cli.md has no schema table")
	}
	return documented
}

// checkDocumented fails for a key of the JSON document out that docs/cli.md
// does not list, or lists with another type, and returns the keys seen.
func checkDocumented(t *testing.T, args []string, out string, documented map[string]string) map[string]bool {
	t.Helper()
	var generic any
	if err := json.Unmarshal([]byte(out), &generic); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	keys(generic, seen)
	for k := range seen {
		if _, ok := documented[k]; !ok {
			t.Errorf("%v: key %q is not documented in docs/cli.md", args, k)
		}
	}
	checkTypes(t, generic, documented)
	return seen
}

// The -o json schema is stable and documented: schema 1, exactly the keys
// docs/cli.md lists, each with the type it says.
func TestJSONSchema(t *testing.T) {
	documented := documentedKeys(t)
	for _, args := range [][]string{{"list", "-o", "json"}, {"list", "-o", "json", "--rate", "--interval", "10ms"}} {
		out, errOut, code := runXlb(t, newFakeDP(), args...)
		if code != 0 {
			t.Fatalf("%v: status %d: %s", args, code, errOut)
		}
		parsed := decodeList(t, out)
		if parsed.Schema != 1 {
			t.Errorf("schema %d, want 1", parsed.Schema)
		}
		seen := checkDocumented(t, args, out, documented)
		if slices.Contains(args, "--rate") {
			for _, k := range []string{"rate", "cps", "rate_interval_seconds"} {
				if !seen[k] {
					t.Errorf("--rate output lacks %q", k)
				}
			}
		}
	}
}

func decodeStats(t *testing.T, out string) jsonStatsDoc {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(out)))
	dec.DisallowUnknownFields()
	var doc jsonStatsDoc
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("decode xlb stats -o json: %v\n%s", err, out)
	}
	return doc
}

// xlb stats -o json: schema 1, documented keys and types; every reason in
// the totals and in each interface, the totals the sum of the interfaces.
func TestStatsJSONSchema(t *testing.T) {
	documented := documentedKeys(t)
	for _, args := range [][]string{{"stats", "-o", "json"}, {"stats", "-o", "json", "--rate", "--interval", "10ms"}} {
		out, errOut, code := runXlb(t, newFakeDP(), args...)
		if code != 0 {
			t.Fatalf("%v: status %d: %s", args, code, errOut)
		}
		doc := decodeStats(t, out)
		if doc.Schema != 1 {
			t.Errorf("schema %d, want 1", doc.Schema)
		}
		seen := checkDocumented(t, args, out, documented)
		withRate := slices.Contains(args, "--rate")
		for _, k := range []string{"rate", "pps", "bps", "rate_interval_seconds"} {
			if seen[k] != withRate {
				t.Errorf("%v: key %q present %v, want %v", args, k, seen[k], withRate)
			}
		}
		var names []string
		sum := make([]jsonReason, len(doc.Reasons))
		for _, ifc := range doc.Interfaces {
			names = append(names, ifc.Interface)
			if len(ifc.Reasons) != len(doc.Reasons) {
				t.Errorf("%s has %d reasons, the totals %d", ifc.Interface, len(ifc.Reasons), len(doc.Reasons))
				continue
			}
			for i, r := range ifc.Reasons {
				sum[i].Packets += r.Packets
				sum[i].Bytes += r.Bytes
			}
		}
		if want := []string{"eth0", "eth1", "eth2", "(other)"}; !slices.Equal(names, want) {
			t.Errorf("interfaces %q, want %q", names, want)
		}
		for i, r := range doc.Reasons {
			if r.Packets != sum[i].Packets || r.Bytes != sum[i].Bytes {
				t.Errorf("total of %q: %d packets %d bytes, the interfaces sum to %d, %d", r.Reason, r.Packets, r.Bytes, sum[i].Packets, sum[i].Bytes)
			}
		}
	}
}

func checkTypes(t *testing.T, v any, documented map[string]string) {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		if a, ok := v.([]any); ok {
			for _, x := range a {
				checkTypes(t, x, documented)
			}
		}
		return
	}
	for k, x := range m {
		want := documented[k]
		got := ""
		switch x := x.(type) {
		case string:
			got = "string"
		case bool:
			got = "boolean"
		case float64:
			got = "number"
			if want == "integer" && x == float64(int64(x)) {
				got = "integer"
			}
		case map[string]any:
			got = "object"
		case []any:
			got = "array"
		}
		if want != "" && got != want {
			t.Errorf("key %q is a JSON %s, docs/cli.md says %s", k, got, want)
		}
		checkTypes(t, x, documented)
	}
}
