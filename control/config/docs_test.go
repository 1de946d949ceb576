package config

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestDocExamples parses the examples of docs/config.md together, so that
// the reference shows only configuration that xlb accepts. Fragments (a
// real_server, a checker) are wrapped in the blocks they belong to.
func TestDocExamples(t *testing.T) {
	const doc = "../../docs/config.md"
	md, err := os.ReadFile(doc)
	if err != nil {
		t.Fatalf("read %s: %v", doc, err)
	}
	var all strings.Builder
	blocks := 0
	for i, part := range strings.Split(string(md), "```") {
		if i%2 == 0 {
			continue // prose between code blocks
		}
		first := strings.Fields(part)
		if len(first) == 0 {
			continue
		}
		ex := part
		switch kw := first[0]; kw {
		case "global_defs", "virtual_server", "virtual_server_group", "SSL", "vrrp_instance",
			"vrrp_script", "vrrp_track_file", "vrrp_track_process", "vrrp_sync_group":
		case "real_server":
			ex = fmt.Sprintf("virtual_server 198.18.9.%d 80 {\n%s\n}\n", blocks, part)
		case "HTTP_GET", "SSL_GET", "TCP_CHECK", "MISC_CHECK", "DNS_CHECK", "SMTP_CHECK":
			ex = fmt.Sprintf("virtual_server 198.18.9.%d 80 {\nreal_server 198.18.8.1 80 {\n%s\n}\n}\n", blocks, part)
		case "include":
			continue // names files that do not exist here
		default:
			if strings.Contains(first[0], ":") {
				continue // error messages, not configuration
			}
			t.Errorf("%s: code block %d starts with %q; teach TestDocExamples what it is", doc, i/2+1, kw)
			continue
		}
		all.WriteString(ex)
		all.WriteString("\n")
		blocks++
	}
	t.Logf("%d examples", blocks)
	if blocks < 10 {
		t.Fatalf("found %d examples in %s, want at least 10", blocks, doc)
	}
	cfg, err := Parse("docs", []byte(all.String()))
	if err != nil {
		t.Fatalf("examples of %s do not parse:\n%v\n--- examples:\n%s", doc, err, all.String())
	}
	if len(cfg.VRRPSyncGroups) != 1 || len(cfg.VRRPInstances) != 2 || len(cfg.Groups) != 1 {
		t.Errorf("examples: %d sync groups, %d instances, %d groups; want 1, 2, 1", len(cfg.VRRPSyncGroups), len(cfg.VRRPInstances), len(cfg.Groups))
	}
}
