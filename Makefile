# xlb — build, test and demo. Run as root on Debian with Go installed;
# `make demo` and `make test` install what they need with apt-get.

GO ?= go
# Debian packages the build and the tests need, each with a file that shows
# it is installed.
DEPS := clang-19:/usr/bin/clang-19 llvm-19:/usr/bin/llvm-strip-19 \
	libbpf-dev:/usr/include/bpf/bpf_helpers.h linux-libc-dev:/usr/include/linux/bpf.h \
	iproute2:/usr/sbin/ip util-linux:/usr/bin/nsenter keepalived:/usr/sbin/keepalived \
	strace:/usr/bin/strace ethtool:/usr/sbin/ethtool curl:/usr/bin/curl
TEST_TIMEOUT ?= 15m

.PHONY: all deps generate check-generated build test demo bench format vet

all: build

# deps installs the missing Debian packages (apt-get update runs only when
# something is missing).
deps:
	@missing=""; for d in $(DEPS); do pkg=$${d%%:*}; file=$${d#*:}; \
		[ -e "$$file" ] || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# generate recompiles bpf/ into the committed bpf2go outputs in loader/.
generate: deps
	$(GO) generate ./loader

# check-generated fails when the committed bpf2go outputs differ from what
# bpf/ compiles to (it leaves the fresh ones in place to be committed).
check-generated: deps
	@tmp=$$(mktemp -d); cp loader/xlb_bpfel.go loader/xlb_bpfel.o $$tmp/; \
	$(GO) generate ./loader || { rm -rf $$tmp; exit 1; }; \
	if cmp -s $$tmp/xlb_bpfel.go loader/xlb_bpfel.go && cmp -s $$tmp/xlb_bpfel.o loader/xlb_bpfel.o; then \
		rm -rf $$tmp; echo "bpf2go outputs are current"; \
	else \
		rm -rf $$tmp; echo "loader/xlb_bpfel.{go,o} were stale: regenerated them, commit them"; exit 1; \
	fi

build:
	$(GO) build -o bin/ ./cmd/...

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); [ -z "$$out" ] || { echo "gofmt needed:"; echo "$$out"; exit 1; }

# test runs every test: unit, BPF golden packets, fuzz seeds and, as root,
# the network-namespace integration tests.
test: deps check-generated vet build
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

demo: deps build
	$(GO) run ./testenv/demo -xlbd bin/xlbd -xlb bin/xlb

# bench measures xlb beside its floors and peers in one run (per-packet
# cost, end-to-end pps and TCP connections/s, control plane, health checks,
# VRRP failover) and writes docs/PERFORMANCE.md and bench/results.json.
# Root; about 7 minutes. BENCH_CALLS: BPF_PROG_TEST_RUN calls per case.
BENCH_DEPS := wrk:/usr/bin/wrk haproxy:/usr/sbin/haproxy nftables:/usr/sbin/nft
BENCH_CALLS ?= 1000000
bench:
	@$(MAKE) --no-print-directory deps DEPS="$(DEPS) $(BENCH_DEPS)"
	$(GO) run ./bench -calls $(BENCH_CALLS) -doc docs/PERFORMANCE.md -json bench/results.json

format:
	@command -v clang-format-19 >/dev/null || { apt-get update -qq && apt-get install -y -qq clang-format-19; }
	gofmt -w $$(git ls-files '*.go')
	clang-format-19 -i --style=file:bpf/.clang-format bpf/*.c bpf/*.h
