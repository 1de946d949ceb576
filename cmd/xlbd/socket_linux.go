package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xlbproject/xlb/control"
	"github.com/xlbproject/xlb/loader"
)

// statusReporter is what a subsystem implements to answer `xlb health` or
// `xlb vrrp`: Status returns a value that encodes to JSON (a list of reals'
// checkers, of VRRP instances) and is safe to call from any goroutine.
type statusReporter interface {
	Status() any
}

// connReader reads the data plane's reals and their connection counts.
type connReader interface {
	Services() (map[loader.Endpoint]loader.Service, error)
	Reals() (map[uint32]loader.Real, error)
	RealConns(id uint32) (loader.ConnCounts, error)
}

// The control socket protocol (docs/cli.md): one JSON request line, one
// JSON answer line. cmd/xlb/client.go holds the client's copy.
type ctlRequest struct {
	Cmd    string `json:"cmd"`
	Proto  string `json:"proto,omitempty"`
	VIP    string `json:"vip,omitempty"`
	Real   string `json:"real,omitempty"`
	Weight *int   `json:"weight,omitempty"`
}

type ctlResponse struct {
	OK            bool            `json:"ok"`
	Error         string          `json:"error,omitempty"`
	Message       string          `json:"message,omitempty"`
	ActiveConns   int64           `json:"active_conns"`
	InactiveConns int64           `json:"inactive_conns"`
	Status        json.RawMessage `json:"status,omitempty"`
}

// controlServer serves xlbd's control socket: runtime weights for xlb
// weight and xlb drain, and the subsystems' status.
type controlServer struct {
	ln       net.Listener
	path     string
	director *control.Director
	dp       connReader
	subs     subsystems
	log      *slog.Logger
	wg       sync.WaitGroup
}

const (
	ctlTimeout  = 10 * time.Second
	ctlMaxLine  = 64 << 10
	ctlMaxConns = 16 // requests served at once; more wait in the backlog
)

// startControlSocket listens on path (mode 0600; only root, or the user
// xlbd runs as, is served). An empty path means no socket.
func startControlSocket(path string, director *control.Director, dp connReader, subs subsystems, log *slog.Logger) (*controlServer, error) {
	if path == "" {
		return nil, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create control socket directory: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("control socket %s: another xlbd is listening on it; give this one --socket PATH", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale control socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on control socket: %w", err)
	}
	// Peer credentials are checked on every connection too: the mode only
	// narrows who can connect.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("restrict control socket: %w", err)
	}
	s := &controlServer{ln: ln, path: path, director: director, dp: dp, subs: subs, log: log}
	s.wg.Add(1)
	go s.serve()
	log.Info("control socket listening (xlb weight, drain, health, vrrp)", "socket", path)
	return s, nil
}

// Close stops serving, waits for requests under way and removes the socket.
func (s *controlServer) Close() {
	if s == nil {
		return
	}
	s.ln.Close()
	s.wg.Wait()
	os.Remove(s.path)
}

func (s *controlServer) serve() {
	defer s.wg.Done()
	sem := make(chan struct{}, ctlMaxConns)
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Error("control socket: accept failed; xlb weight and drain no longer work", "error", err)
			}
			return
		}
		sem <- struct{}{}
		s.wg.Add(1)
		go func() {
			defer func() { <-sem; s.wg.Done() }()
			s.handle(c)
		}()
	}
}

// peerAllowed says whether the peer runs as root or as xlbd's own user.
func peerAllowed(c net.Conn) (uint32, bool) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return 0, false
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return 0, false
	}
	return cred.Uid, cred.Uid == 0 || int(cred.Uid) == os.Geteuid()
}

func (s *controlServer) handle(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(ctlTimeout))
	var resp ctlResponse
	if uid, ok := peerAllowed(c); !ok {
		resp.Error = fmt.Sprintf("user %d may not steer xlbd: run xlb as root", uid)
	} else {
		line, err := bufio.NewReaderSize(c, ctlMaxLine).ReadSlice('\n')
		var req ctlRequest
		if err == nil {
			err = json.Unmarshal(line, &req)
		}
		if err != nil {
			resp.Error = fmt.Sprintf("bad request: %v (this xlbd speaks the protocol in docs/cli.md)", err)
		} else {
			resp = s.do(req)
		}
	}
	b, err := json.Marshal(resp)
	if err != nil {
		b, _ = json.Marshal(ctlResponse{Error: "encode answer: " + err.Error()})
	}
	c.Write(append(b, '\n'))
}

func (s *controlServer) do(req ctlRequest) ctlResponse {
	switch req.Cmd {
	case "weight", "real":
		ref, err := s.resolve(req)
		if err != nil {
			return ctlResponse{Error: err.Error()}
		}
		resp := ctlResponse{OK: true}
		if req.Cmd == "weight" {
			msg, err := s.setWeight(ref, req.Weight)
			if err != nil {
				return ctlResponse{Error: err.Error()}
			}
			resp.Message = msg
		}
		cc, err := s.conns(ref)
		if err != nil {
			return ctlResponse{Error: err.Error()}
		}
		resp.ActiveConns, resp.InactiveConns = cc.Active, cc.Inactive
		return resp
	case "health", "vrrp":
		return s.status(req.Cmd)
	}
	return ctlResponse{Error: fmt.Sprintf("unknown command %q (want weight, real, health or vrrp): is xlb newer than this xlbd?", req.Cmd)}
}

// resolve finds the configured real the request names.
func (s *controlServer) resolve(req ctlRequest) (control.RealRef, error) {
	vip, err := netip.ParseAddrPort(req.VIP)
	if err != nil {
		return control.RealRef{}, fmt.Errorf("virtual service %q: want VIP:PORT", req.VIP)
	}
	real, err := netip.ParseAddrPort(req.Real)
	if err != nil {
		return control.RealRef{}, fmt.Errorf("real %q: want ADDR:PORT", req.Real)
	}
	eps := s.director.ServicesAt(vip)
	if p := strings.ToUpper(req.Proto); p != "" {
		var keep []loader.Endpoint
		for _, ep := range eps {
			if ep.Proto.String() == p {
				keep = append(keep, ep)
			}
		}
		eps = keep
	}
	switch len(eps) {
	case 0:
		what := vip.String()
		if req.Proto != "" {
			what = strings.ToUpper(req.Proto) + " " + what
		}
		return control.RealRef{}, fmt.Errorf("no virtual service %s in xlbd's configuration (see xlb list)", what)
	case 1:
	default:
		return control.RealRef{}, fmt.Errorf("both a TCP and a UDP virtual service listen on %s: say which with --proto TCP or --proto UDP", vip)
	}
	ref := control.RealRef{Service: eps[0], Real: real}
	if _, err := s.director.ConfiguredWeight(ref); err != nil {
		return ref, fmt.Errorf("%s is not a real server of %s %s (see xlb list)", real, eps[0].Proto, vip)
	}
	return ref, nil
}

func (s *controlServer) setWeight(ref control.RealRef, w *int) (string, error) {
	if err := s.director.SetRuntimeWeight(ref, w); err != nil {
		if errors.Is(err, control.ErrWeightRange) {
			return "", fmt.Errorf("weight %d: want 0 to %d", *w, control.MaxWeight)
		}
		return "", fmt.Errorf("set weight: %w", err)
	}
	configured, _ := s.director.ConfiguredWeight(ref)
	if w == nil {
		s.log.Info("runtime weight removed: the configured weight applies", "real", ref.String(), "weight", configured)
		return fmt.Sprintf("%s: back to the configured weight %d", ref, configured), nil
	}
	s.log.Info("runtime weight set (xlb weight): until the next reload", "real", ref.String(), "weight", *w, "configured", configured)
	return fmt.Sprintf("%s: weight %d (configured %d) until the next reload: the configuration file rules again at SIGHUP or restart",
		ref, *w, configured), nil
}

// conns sums the connections of every data plane real of the service at
// the address: a real changed in a reload has a new id, the old one's
// flows still count.
func (s *controlServer) conns(ref control.RealRef) (loader.ConnCounts, error) {
	var sum loader.ConnCounts
	services, err := s.dp.Services()
	if err != nil {
		return sum, err
	}
	svc, ok := services[ref.Service]
	if !ok {
		return sum, nil // not in the data plane (VRRP BACKUP): no connections
	}
	reals, err := s.dp.Reals()
	if err != nil {
		return sum, err
	}
	for id, rl := range reals {
		if rl.ServiceID != svc.ID || netip.AddrPortFrom(rl.Addr, rl.Port) != ref.Real {
			continue
		}
		cc, err := s.dp.RealConns(id)
		if err != nil {
			return sum, err
		}
		sum.Active += max(cc.Active, 0)
		sum.Inactive += max(cc.Inactive, 0)
	}
	return sum, nil
}

// status asks the health or VRRP subsystem for its report.
func (s *controlServer) status(what string) ctlResponse {
	for _, sub := range s.subs {
		switch sub.(type) {
		case *healthChecker:
			if what != "health" {
				continue
			}
		case *vrrpSubsystem:
			if what != "vrrp" {
				continue
			}
		default:
			continue
		}
		r, ok := sub.(statusReporter)
		if !ok {
			return ctlResponse{Error: fmt.Sprintf("this xlbd's %s subsystem does not report its status yet (no Status method); see its log lines", what)}
		}
		b, err := json.Marshal(r.Status())
		if err != nil {
			return ctlResponse{Error: fmt.Sprintf("encode %s status: %v", what, err)}
		}
		return ctlResponse{OK: true, Status: b}
	}
	return ctlResponse{Error: fmt.Sprintf("xlbd runs no %s subsystem", what)}
}
