// Command xlb shows what xlb's data plane is doing, read straight from its
// pinned BPF maps in the layouts ipvsadm users know, and steers it at run
// time through xlbd's control socket.
//
//	xlb list      virtual servers and reals (ipvsadm -Ln), --stats, --rate, -o json
//	xlb conns     connection table entries (ipvsadm -Lnc)
//	xlb stats     why packets were passed to the kernel or dropped
//	xlb weight    set a real's weight until the next reload (needs xlbd)
//	xlb drain     weight 0 and wait for its connections to end (needs xlbd)
//	xlb health    each real's checkers (needs xlbd)
//	xlb vrrp      each VRRP instance (needs xlbd)
//
// list, conns and stats work while xlbd is stopped: the data plane keeps
// forwarding and its maps stay pinned under --bpffs.
package main
