package config

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"slices"
	"testing"
)

func FuzzParse(f *testing.F) {
	seeds := []string{
		"",
		"global_defs {\n xdp_interface eth0 eth1\n xdp_mode native\n}\n",
		"virtual_server 198.18.0.1 80 {\n lvs_sched rr\n lvs_method DR\n protocol UDP\n real_server 198.18.1.1 80 {\n  weight 2\n }\n}\n",
		"virtual_server 2001:db8::1 80\n{\n real_server 2001:db8::2 { weight 0 }\n}\n",
		"}\n{\n\"unterminated\n virtual_server 1 2 3 {",
		"x \"a\\x41\\101\\cA\\q\" 'b c' # c\n! d\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	for _, name := range []string{"testdata/director/keepalived.conf", "testdata/director/conf.d/dns.conf"} {
		src, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	// Includes read from a fixed in-memory tree, so that the fuzzer never
	// walks the real file system.
	files := map[string]string{
		"inc/a.conf": "virtual_server 198.18.0.7 80 {\n real_server 198.18.1.7 80 {\n }\n}\n",
		"inc/b.conf": "include a.conf\ninclude b.conf\n",
	}
	readFile := func(name string) ([]byte, error) {
		if s, ok := files[name]; ok {
			return []byte(s), nil
		}
		return nil, fs.ErrNotExist
	}
	glob := func(pattern string) ([]string, error) {
		var out []string
		for name := range files {
			if ok, err := path.Match(pattern, name); err != nil {
				return nil, err
			} else if ok {
				out = append(out, name)
			}
		}
		slices.Sort(out)
		return out, nil
	}
	f.Add([]byte("include inc/*.conf\ninclude inc/b.conf\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, err := parse("f.conf", src, readFile, glob)
		if err == nil {
			if cfg == nil {
				t.Fatal("Parse returned neither config nor error")
			}
			return
		}
		if cfg != nil {
			t.Fatalf("Parse returned a config and error %v", err)
		}
		var list ErrorList
		if !errors.As(err, &list) || len(list) == 0 {
			t.Fatalf("Parse error %T %v is not a non-empty ErrorList", err, err)
		}
		for _, e := range list {
			if _, known := files[e.Pos.File]; (e.Pos.File != "f.conf" && !known) || e.Pos.Line < 1 || e.Pos.Col < 1 {
				t.Errorf("error %q has position %#v, want a file of the test with line and column >= 1", e.Msg, e.Pos)
			}
		}
	})
}
