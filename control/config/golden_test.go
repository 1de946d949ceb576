package config

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestGolden")

// TestGolden parses whole configuration files under testdata and compares
// the typed result with a reviewed JSON golden file beside each.
func TestGolden(t *testing.T) {
	tests := []struct {
		desc   string
		conf   string
		golden string
	}{
		{
			desc:   "LVS director with VRRP, groups, checkers and includes",
			conf:   "testdata/director/keepalived.conf",
			golden: "testdata/director/keepalived.json",
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			cfg, err := ParseFile(tt.conf)
			if err != nil {
				t.Fatalf("ParseFile(%s): %v", tt.conf, err)
			}
			got, err := json.MarshalIndent(cfg, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			if *update {
				if err := os.WriteFile(tt.golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(tt.golden)
			if err != nil {
				t.Fatalf("read golden: %v (run go test -run TestGolden -update, then review the file)", err)
			}
			if !bytes.Equal(got, want) {
				tmp := filepath.Join(t.TempDir(), filepath.Base(tt.golden))
				os.WriteFile(tmp, got, 0o644)
				t.Errorf("ParseFile(%s) differs from %s; got written to %s (diff them)", tt.conf, tt.golden, tmp)
			}
		})
	}
}
