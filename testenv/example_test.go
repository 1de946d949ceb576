package testenv_test

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/xlbproject/xlb/testenv"
)

// A test builds the topology, starts an HTTP server on each real and asks
// from the client; here the director only routes, in xlb's tests it runs
// the XDP program and the client asks the VIP.
func ExampleStart() {
	var t testing.TB // the *testing.T of a TestIntegration* function
	topo := testenv.Start(t, testenv.Options{Reals: 2})
	for _, r := range topo.Reals {
		stop, err := r.ServeHTTP(80)
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
	}
	resp, err := topo.Client.HTTPClient(2 * time.Second).Get("http://198.18.1.2/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("%s answered: %s", resp.Header.Get("X-Real"), body)
}
