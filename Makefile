# The README's two commands: `go run ./cmd/execengine run -- <command>` and `make test`.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.7.0
GO ?= go

.PHONY: test fmt-check vet staticcheck unit bench test-cross test-windows natsexec web-terminal

test: fmt-check vet staticcheck unit test-cross test-windows natsexec web-terminal

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	cd bench && $(GO) vet ./...

staticcheck:
	$(GO) run $(STATICCHECK) ./...

unit:
	$(GO) test -race -count=1 -timeout 15m ./...

# go build, go vet, staticcheck and go test -c for every platform we ship on.
test-cross:
	GO=$(GO) .ci/test-cross

# The library's tests for windows/amd64, run under Wine (installed if missing).
test-windows:
	GO=$(GO) .ci/test-windows

# The comparison with raw os/exec and go-cmd (its own module in bench/, so
# go-cmd never becomes a dependency of the library). Prints the table and
# the ratios; e.g. make bench BENCHFLAGS="-quick" or
# BENCHFLAGS="-json ../bench/results.json -chart ../bench/concurrency.png".
bench:
	cd bench && $(GO) run . $(BENCHFLAGS)

# natsexec is its own module (NATS stays out of the library's go.mod): its
# tests start an embedded nats-server with JetStream in a temp dir.
natsexec:
	cd natsexec && $(GO) vet ./... && $(GO) test -race -count=1 -timeout 10m ./...

# The web-terminal example (its own module) and its real-browser test:
# Debian's chromium (installed if missing) driven by playwright-core from
# npm. Without the browser it fails.
web-terminal:
	command -v chromium >/dev/null || { apt-get update >/dev/null && apt-get install -y --no-install-recommends chromium >/dev/null; }
	cd examples/web-terminal && $(GO) vet ./... && npm install --no-audit --no-fund --no-package-lock && npm test
