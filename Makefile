# krew-wasm: every target installs what it needs first (npm ci, system packages when root).
#   make demo       pull the bundled example plugin from an OCI layout and run it through kubectl
#   make test       build, build the test plugins, run every test (starts its own registry and API server)
#   make bench      benchmarks (bench/), printed as a table
#   make bindings   regenerate generated/ from wit/ with jco

NPM := sh scripts/npm.sh
NODE_BIN := node_modules/.bin
TS_SOURCES := $(shell find src test testkit -name '*.ts' 2>/dev/null) tsconfig.json
FIXTURE_SOURCES := $(wildcard test/fixtures/src/*) test/fixtures/wit/fixtures.wit

.PHONY: all deps system-deps build bindings fixtures example test demo bench clean

all: build

node_modules/.installed: package.json package-lock.json
	$(NPM) ci --no-audit --no-fund
	@touch $@

deps: node_modules/.installed

system-deps:
	@sh scripts/install-system-deps.sh

ADAPTER_SOURCES := $(wildcard src/runtime/adapters/*.wat src/runtime/adapters/*.wit src/runtime/adapters/*.mjs) wit/outbound-http.wit

dist/.built: node_modules/.installed $(TS_SOURCES) $(wildcard generated/*.d.ts generated/**/*.d.ts) scripts/bundle.mjs $(ADAPTER_SOURCES)
	$(NODE_BIN)/tsc -p tsconfig.json
	node scripts/bundle.mjs
	node src/runtime/adapters/build.mjs
	@# The CLI bundle's V8 code cache (bin/krew-wasm.js writes it at the exit of a first run).
	@root=$$(mktemp -d) && KREW_WASM_ROOT=$$root node bin/krew-wasm.js list >/dev/null; status=$$?; rm -rf $$root; exit $$status
	@touch $@

build: dist/.built

# After a build: the ownership table is read with the runtime's own code (src/runtime/ownership.ts).
bindings: node_modules/.installed dist/.built
	node scripts/bindings.mjs

test/fixtures/build/.built: node_modules/.installed $(FIXTURE_SOURCES) scripts/build-fixtures.mjs
	node scripts/build-fixtures.mjs
	@touch $@

fixtures: system-deps test/fixtures/build/.built

examples/build/.built: dist/.built examples/pods/pods.js examples/pods-watch/pods-watch.js wit/outbound-http.wit scripts/build-example.mjs
	node scripts/build-example.mjs
	@touch $@

example: examples/build/.built

test: system-deps build fixtures example
	bash scripts/run-tests.sh

demo: build example
	node scripts/demo.mjs

bench: system-deps build fixtures example
	node bench/run.mjs

clean:
	rm -rf dist test/fixtures/build examples/build bench/out
