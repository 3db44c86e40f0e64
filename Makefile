# SPDX-License-Identifier: Apache-2.0
# aoai-spoa: HAProxy SPOE agent routing requests across Azure OpenAI regions.
#
#   make            build build/aoai-spoa and build/libspop.a
#   make run        the local lab: HAProxy + agent + mock regions, analysis
#   make run AZURE_CONFIG=azure.env   the same against real Azure OpenAI
#   make run FLEET=3 three nodes sharing throttles (HAProxy peers), and
#                   the same without sharing (also: make lab-fleet)
#   make lab        the lab kept up (make lab-stop; make lab-scenario S=...)
#   make test       every test layer; last line "N passed, M failed"
#   make test HAPROXY_VERSIONS=2.6   the e2e layer against one HAProxy only
#   make bench      benchmarks (not tests): throughput, latency, callgrind
#   make bench-haproxy  the shipped HAProxy topology next to plain HAProxy,
#                   Lua, SPOE ACK-only and Portkey (tests/bench/bench_haproxy.py)
#   make fuzz       libFuzzer targets, FUZZ_SECONDS each (default 300)
#   make lint       clang-format check, banned functions, include graph
#   make deps-graph the include graph between modules; fails on a cycle
#   make haproxy-conf  haproxy-conf/haproxy.cfg and aoai-spoe.conf rendered
#                   again from haproxy-conf/aoai-spoa.yaml (haproxy-config)
#   make install    honours DESTDIR and PREFIX
#
# User CPPFLAGS/CFLAGS/LDFLAGS/LDLIBS are respected; project flags come
# first so the user's win.

CC       ?= cc
CLANG    ?= clang
PREFIX   ?= /usr/local
DESTDIR  ?=
BUILD    ?= build
SANITIZE ?=
WERROR   ?=
# The release is the VERSION file; a build from a git checkout of this tree
# (not of an enclosing repository) adds the commit: 0.1.0+g1a2b3c4[.dirty].
VERSION  := $(shell cat VERSION)$(shell \
	[ "$$(git rev-parse --show-toplevel 2>/dev/null)" = "$(CURDIR)" ] && \
	git describe --always --dirty=.dirty --abbrev=7 --exclude='*' \
	2>/dev/null | sed 's/^/+g/')

# Debian 12 packages: what the build needs, and what tests, lab and
# benchmarks need besides.
BUILD_PKGS := gcc make pkg-config libev-dev libyaml-dev libmsgpack-dev
# Entra ID tokens: TLS and client assertions, token responses
BUILD_PKGS += libssl-dev libjansson-dev
TEST_PKGS  := haproxy socat clang libclang-rt-14-dev clang-format python3 \
	valgrind ca-certificates systemd strace prometheus
# make bench-haproxy: load (wrk, h2load), system calls per request (perf)
TEST_PKGS  += wrk nghttp2-client linux-perf
# tests/package: build the .deb, lint it, read the man pages
TEST_PKGS  += dpkg-dev debhelper lintian man-db groff-base

PKG_CONFIG ?= pkg-config
# msgpack-c 6 (Debian 13) renamed its pkg-config module msgpack-c.
MSGPACK_PC := $(shell $(PKG_CONFIG) --exists msgpack-c 2>/dev/null && \
	echo msgpack-c || echo msgpack)
PKGS       := yaml-0.1 $(MSGPACK_PC)
# Entra ID tokens (agent/http.c, jwt.c: OpenSSL; token.c: jansson)
PKGS       += libssl libcrypto jansson

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wpointer-arith -Wcast-qual -Wformat=2 -Wno-missing-field-initializers
ifneq ($(WERROR),)
WARN += -Werror
endif
ifeq ($(CI),true)
WARN += -Werror
endif

OPT := -O2 -g
ifneq ($(SANITIZE),)
OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=$(SANITIZE) \
	-fno-sanitize-recover=all
endif

# Asked once, when a recipe first needs them (after "make deps" may have
# installed the libraries); pkg-config's own message is shown on failure.
pkg_or_fail = $(if $(filter PKG_CONFIG_FAILED,$(1)),$(error $(PKG_CONFIG) \
	found no $(PKGS): install $(BUILD_PKGS) or run "make deps"),$(1))
pkg_query = $(call pkg_or_fail,$(shell $(PKG_CONFIG) $(1) $(PKGS) || \
	echo PKG_CONFIG_FAILED))
PKG_CFLAGS = $(eval PKG_CFLAGS := $(call pkg_query,--cflags))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $(call pkg_query,--libs) -lev -lm \
	$(LDLIBS))$(PKG_LIBS)

ALL_CPPFLAGS = -D_GNU_SOURCE -DAOAI_VERSION='"$(VERSION)"' -Iprotocol -Iagent \
	$(PKG_CFLAGS) $(CPPFLAGS)
ALL_CFLAGS  = -std=c17 $(ALL_CPPFLAGS) $(OPT) $(WARN) $(CFLAGS)
ALL_LDFLAGS = $(OPT) $(LDFLAGS)

PROTO_SRC  := $(wildcard protocol/*.c)
AGENT_SRC  := $(filter-out agent/main.c,$(wildcard agent/*.c))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
MOCK_SRC   := $(wildcard tests/mock/*.c)
BENCH_SRC  := $(wildcard tests/bench/*.c)
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
TOOL_SRC   := $(wildcard tests/tools/*.c)

PROTO_OBJ  := $(PROTO_SRC:%.c=$(BUILD)/obj/%.o)
AGENT_OBJ  := $(AGENT_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_BIN  := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)
FUZZ_BIN   := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
TOOL_BIN   := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)

.PHONY: all deps build-deps node-deps build-tests test run bench fuzz fuzz-build lint \
	deps-graph format install clean bench-haproxy bench-haproxy-deps \
	haproxy-conf

# A pure build: nothing is installed here (see "make deps").
all: $(BUILD)/libspop.a $(BUILD)/aoai-spoa

# Installs what is missing when root; otherwise prints the one line needed.
# Only run, test, bench and fuzz depend on it.
build-deps: PKGS_WANTED = $(BUILD_PKGS)
deps: PKGS_WANTED = $(BUILD_PKGS) $(TEST_PKGS)
build-deps deps:
	@missing=""; \
	for p in $(PKGS_WANTED); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | \
			grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ "$@" = deps ]; then \
		command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
		command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	fi; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "deps: installing$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
				apt-get install -y -qq --no-install-recommends \
				$$missing >/dev/null || exit 1; \
		else \
			echo "deps: missing packages; run as root:"; \
			echo "  apt-get install -y$$missing"; exit 1; \
		fi; \
	fi

# The official openai npm client for tests/e2e/test_openai_node.py, pinned
# by tests/node/package-lock.json.
NODE_STAMP := tests/node/node_modules/.package-lock.json
node-deps: $(NODE_STAMP)
$(NODE_STAMP): tests/node/package.json tests/node/package-lock.json
	npm ci --prefix tests/node --no-audit --no-fund

# The Portkey AI gateway for make bench-haproxy, pinned by
# tests/bench/portkey/package-lock.json.
PORTKEY_STAMP := tests/bench/portkey/node_modules/.package-lock.json
bench-haproxy-deps: $(PORTKEY_STAMP)
$(PORTKEY_STAMP): tests/bench/portkey/package.json \
		tests/bench/portkey/package-lock.json
	npm ci --prefix tests/bench/portkey --no-audit --no-fund

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libspop.a: $(PROTO_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BUILD)/libagent.a: $(AGENT_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BUILD)/aoai-spoa: $(BUILD)/obj/agent/main.o $(BUILD)/libagent.a \
		$(BUILD)/libspop.a
	$(CC) $(ALL_LDFLAGS) $^ $(PKG_LIBS) -o $@

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libagent.a $(BUILD)/libspop.a \
		tests/unit/tap.h tests/unit/tcfg.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit $< $(BUILD)/libagent.a \
		$(BUILD)/libspop.a $(ALL_LDFLAGS) $(PKG_LIBS) -o $@

$(BUILD)/mock-aoai: $(MOCK_SRC)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(MOCK_SRC) $(ALL_LDFLAGS) -lev -lm -lcrypto -o $@

$(BUILD)/bench/%: tests/bench/%.c $(BUILD)/libagent.a $(BUILD)/libspop.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $< $(BUILD)/libagent.a $(BUILD)/libspop.a \
		$(ALL_LDFLAGS) $(PKG_LIBS) -o $@

# Drivers the integration tests run (not tests themselves).
$(BUILD)/tools/%: tests/tools/%.c $(BUILD)/libagent.a $(BUILD)/libspop.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $< $(BUILD)/libagent.a $(BUILD)/libspop.a \
		$(ALL_LDFLAGS) $(PKG_LIBS) -o $@

# libFuzzer targets: clang, ASan + UBSan. The sources are compiled once
# (instrumented, not linked with libFuzzer's main) into one archive that
# every target links: eight targets cost one compile, not eight.
FUZZ_FLAGS := -std=c17 -D_GNU_SOURCE -DAOAI_VERSION='"fuzz"' -g -O1 \
	-Iprotocol -Iagent -fno-sanitize-recover=all
FUZZ_OBJ   := $(PROTO_SRC:%.c=build/fuzz/obj/%.o) \
	$(AGENT_SRC:%.c=build/fuzz/obj/%.o)
build/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link,address,undefined \
		$(PKG_CFLAGS) -MMD -MP -c $< -o $@
build/fuzz/libfuzz.a: $(FUZZ_OBJ)
	$(AR) rcs $@ $^
build/fuzz/%: tests/fuzz/%.c build/fuzz/libfuzz.a
	$(CLANG) $(FUZZ_FLAGS) -fsanitize=fuzzer,address,undefined \
		$(PKG_CFLAGS) $< build/fuzz/libfuzz.a $(PKG_LIBS) -o $@

build-tests: all $(UNIT_BIN) $(BUILD)/mock-aoai $(BENCH_BIN) $(TOOL_BIN)

# The e2e layer runs once per HAProxy version (default: 2.6 3.0 3.2; see
# MATRIX in tests/run.py). 2.6 is the host's; the others run from Debian
# root filesystems that tests/lib/rootfs.py builds with debootstrap and
# caches in $AOAI_ROOTFS_CACHE (default /var/cache/aoai-spoa/rootfs).
# tests/run.py builds missing ones in the background; "make rootfs" builds
# them ahead (as root).
HAPROXY_VERSIONS ?=
ROOTFS_SUITES    ?= trixie sid
TEST_PKGS        += debootstrap
.PHONY: rootfs
rootfs:
	@for s in $(ROOTFS_SUITES); do \
		python3 tests/lib/rootfs.py ensure $$s || exit 1; done

fuzz-build: deps $(FUZZ_BIN)

# Two builds (warnings as errors; ASan+UBSan), then every layer.
# The builds use every CPU unless make was given -j itself.
SUBJOBS = $(if $(findstring -j,$(MAKEFLAGS)),,-j$(shell nproc))
test: deps node-deps bench-haproxy-deps
	@$(MAKE) --no-print-directory $(SUBJOBS) WERROR=1 build-tests
	@$(MAKE) --no-print-directory $(SUBJOBS) WERROR=1 BUILD=build/asan \
		SANITIZE=address,undefined build-tests
	@$(MAKE) --no-print-directory $(SUBJOBS) fuzz-build
	@python3 tests/run.py \
		$(if $(HAPROXY_VERSIONS),--versions "$(HAPROXY_VERSIONS)")

# The lab's build is quiet (warnings and errors still show); V=1 shows the
# compiler command lines.
LAB_BUILD = @$(MAKE) --no-print-directory $(if $(V),,-s) all $(BUILD)/mock-aoai

# make run FLEET=3 (or make lab-fleet): three nodes sharing throttles
# through HAProxy peers, next to the same without sharing
# (tests/lab/fleet.py).
run: deps
	$(LAB_BUILD)
	@python3 tests/lab/$(if $(FLEET),fleet.py --nodes $(FLEET),lab.py)

.PHONY: lab-fleet
lab-fleet: deps
	$(LAB_BUILD)
	@python3 tests/lab/fleet.py --nodes 3

# The lab kept up (tests/lab/README.md): make lab [PROMETHEUS=1],
# make lab-scenario S='throttle eastus', make lab-stop.
.PHONY: lab lab-stop lab-scenario
lab: deps
	$(LAB_BUILD)
	@python3 tests/lab/labctl.py up $(if $(PROMETHEUS),--prometheus)

lab-stop:
	@python3 tests/lab/labctl.py stop

lab-scenario:
	@python3 tests/lab/labctl.py $(S)

bench: deps all $(BENCH_BIN) $(BUILD)/mock-aoai
	@python3 tests/bench/bench.py

bench-haproxy: deps bench-haproxy-deps all $(BENCH_BIN) $(BUILD)/mock-aoai
	@python3 tests/bench/bench_haproxy.py

FUZZ_SECONDS ?= 300
fuzz: fuzz-build
	@python3 tests/run.py --only fuzz --fuzz-seconds $(FUZZ_SECONDS)

lint:
	@sh tests/lint.sh

# The shipped HAProxy files are the product's rendering of the shipped YAML
# (tests/e2e/test_config.py checks that they still are).
haproxy-conf: $(BUILD)/aoai-spoa
	$(BUILD)/aoai-spoa haproxy-config -f haproxy-conf/aoai-spoa.yaml \
		> haproxy-conf/haproxy.cfg.tmp
	$(BUILD)/aoai-spoa haproxy-config -f haproxy-conf/aoai-spoa.yaml \
		--spoe > haproxy-conf/aoai-spoe.conf.tmp
	mv haproxy-conf/haproxy.cfg.tmp haproxy-conf/haproxy.cfg
	mv haproxy-conf/aoai-spoe.conf.tmp haproxy-conf/aoai-spoe.conf

# The include graph between modules; fails on a cycle or upward include.
deps-graph:
	@python3 tests/deps_graph.py

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

# Units name the binary under $(PREFIX); the configuration holds no secret
# (keys live in HAProxy's map) and the agent's dynamic user must read it.
install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin \
		$(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/aoai-spoa \
		$(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/man/man5 \
		$(DESTDIR)$(PREFIX)/share/man/man8 \
		$(DESTDIR)$(PREFIX)/share/doc/aoai-spoa \
		$(DESTDIR)/lib/systemd/system $(DESTDIR)/etc/aoai-spoa
	install -m 0755 $(BUILD)/aoai-spoa $(DESTDIR)$(PREFIX)/sbin/
	install -m 0755 agent/tools/import-apim.py \
		$(DESTDIR)$(PREFIX)/bin/aoai-spoa-import-apim
	install -m 0644 docs/man/aoai-spoa-import-apim.1 \
		$(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 docs/man/aoai-spoa.yaml.5 \
		$(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 0644 docs/man/aoai-spoa.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 0644 $(BUILD)/libspop.a $(DESTDIR)$(PREFIX)/lib/
	install -m 0644 protocol/spop-t.h protocol/spop.h \
		$(DESTDIR)$(PREFIX)/include/aoai-spoa/
	install -m 0644 README.md LICENSE docs/design.md docs/routing.md \
		docs/control.md \
		haproxy-conf/haproxy.cfg haproxy-conf/aoai-spoe.conf \
		$(DESTDIR)$(PREFIX)/share/doc/aoai-spoa/
	install -m 0644 haproxy-conf/README.md \
		$(DESTDIR)$(PREFIX)/share/doc/aoai-spoa/haproxy-conf.md
	for u in aoai-spoa.service aoai-spoa.socket aoai-spoa-control.socket; do \
		sed 's|/usr/local|$(PREFIX)|g' systemd/$$u > \
			$(DESTDIR)/lib/systemd/system/$$u && \
		chmod 0644 $(DESTDIR)/lib/systemd/system/$$u || exit 1; \
	done
	[ -e $(DESTDIR)/etc/aoai-spoa/aoai-spoa.yaml ] || install -m 0644 \
		haproxy-conf/aoai-spoa.yaml $(DESTDIR)/etc/aoai-spoa/

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj build/fuzz/obj -name '*.d' 2>/dev/null)
