# sciflow: two commands to know.
#   make run    build and start the whole system with demo data
#   make test   run every test against a real PostgreSQL
SHELL := /bin/bash
BIN := bin/sciflow

.PHONY: build run test vet postgres

build:
	go build -o $(BIN) ./cmd/sciflow

# Starts on the embedded default: a private PostgreSQL cluster under ./var
# (SCIFLOW_DATA_DIR), created on first start and kept between runs.
run: postgres build
	./$(BIN) serve --demo

# One throwaway cluster (cmd/testpg) serves every test package; each test gets
# its own database copied from a migrated template.
test: postgres vet
	go run ./cmd/testpg -- go test -race -count=1 -timeout 20m ./...

vet:
	go vet ./...

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
