# sciflow: two commands to know.
#   make run    build and start the whole system with demo data
#   make test   run every test against a real PostgreSQL
SHELL := /bin/bash
BIN := bin/sciflow
# Go 1.27.3 from the module proxy, whatever Go the machine starts with
# (about 10 s, once): it carries the standard library's security fixes that
# govulncheck finds missing from 1.26.8 (make vulncheck).
export GOTOOLCHAIN := go1.27.3

.PHONY: build run test vet vulncheck postgres chromium

build:
	go build -o $(BIN) ./cmd/sciflow

# Starts on the embedded default: a private PostgreSQL cluster under ./var
# (SCIFLOW_DATA_DIR), created on first start and kept between runs.
run: postgres build
	./$(BIN) serve --demo

# One throwaway cluster (cmd/testpg) serves every test package; each test gets
# its own database copied from a migrated template. The browser tests' step
# screenshots land under test-output/_artifacts (emptied on each run).
test: postgres chromium vet
	rm -rf test-output && mkdir -p test-output
	go run ./cmd/testpg -- go test -race -count=1 -timeout 20m -artifacts -outputdir $(CURDIR)/test-output ./...

vet:
	go vet ./...

# govulncheck against the Go vulnerability database, offline (.ci/vulncheck);
# every reachable finding is fixed or explained in .ci/vuln-exceptions.
vulncheck:
	bash .ci/vulncheck

# PostgreSQL's server binaries are the one thing Go cannot fetch: install
# Debian's package when they are missing and we are allowed to.
postgres:
	@if command -v postgres >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then \
		exit 0; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "PostgreSQL server binaries missing: installing Debian's postgresql package"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null; \
	elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
		echo "PostgreSQL server binaries missing: installing Debian's postgresql package with sudo"; \
		sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null; \
	else \
		echo "PostgreSQL server binaries not found: install PostgreSQL (Debian: apt-get install postgresql), or set DATABASE_URL" >&2; exit 1; \
	fi

# The browser tests drive Debian's Chromium, with CJK fonts so that the
# screenshots show Chinese. Installed like PostgreSQL; when that is not
# possible the tests still run, and the browser tests fail saying why.
chromium:
	@if [ -x /usr/bin/chromium ] && { fc-list :lang=zh 2>/dev/null | grep -q . || ls /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc >/dev/null 2>&1; }; then \
		exit 0; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Chromium or CJK fonts missing: installing Debian's chromium and fonts-noto-cjk packages"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk >/dev/null \
			|| echo "Installing chromium and fonts-noto-cjk failed: the browser tests will fail" >&2; \
	elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
		echo "Chromium or CJK fonts missing: installing Debian's chromium and fonts-noto-cjk packages with sudo"; \
		sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk >/dev/null \
			|| echo "Installing chromium and fonts-noto-cjk failed: the browser tests will fail" >&2; \
	else \
		echo "Chromium (/usr/bin/chromium) or a CJK font not found, and installing them needs apt-get and root or sudo: the browser tests will fail." >&2; \
		echo "Install them (Debian: apt-get install chromium fonts-noto-cjk), then run make test again." >&2; \
	fi
