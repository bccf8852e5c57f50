# nodegate: health-aware load-balancing reverse proxy. `make help` lists the targets.

CC      ?= cc
BUILD   ?= build
SAN     ?=
V       ?= 0

LIBS_PC  := libevent libevent_openssl libevent_pthreads openssl gnutls libcurl inih jansson sqlite3 libpq
OPT      ?= -O2 -g
CFLAGS   += $(OPT) -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wno-unused-parameter -fno-strict-aliasing -D_GNU_SOURCE -Iinclude $(SAN)
LDFLAGS  += $(SAN)
PC_CFLAGS = $(shell pkg-config --cflags $(LIBS_PC) 2>/dev/null)
PC_LIBS   = $(shell pkg-config --libs $(LIBS_PC) 2>/dev/null) -lm -lpthread

SRCS      := $(wildcard src/*.c src/*/*.c)
HDRS      := $(wildcard include/*.h include/*/*.h)
OBJS      := $(SRCS:src/%.c=$(BUILD)/obj/%.o)
LIB_OBJS  := $(filter-out $(BUILD)/obj/main.o,$(OBJS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)

# What each test program links from src/ (src/X.c is X): the module it tests and the
# modules whose functions that one calls, nothing else. When a link fails after a module
# is split or moved, `make BUILD=... all && /usr/bin/python3 tests/linkdeps.py BUILD`
# prints the lists the built objects need.
UNIT_test_alert    := bus clock conf evmem fdlimit health/check health/curlev health/gtls health/health health/pconn health/poolstat inherit log metrics ops/acklink ops/alert ops/deliver ops/incident ops/mwindow ops/notice ops/outbox ops/postmortem ops/redact ops/remedy ops/sender ops/similar ops/status ops/store ops/storedb ops/words proxy/backend proxy/budget proxy/conn proxy/http proxy/latency proxy/limit proxy/ranges proxy/route proxy/rpc proxy/rpcscan proxy/tls proxy/worker registry stats
UNIT_test_backend  := clock conf evmem health/health log ops/notice ops/words proxy/backend proxy/budget proxy/latency proxy/limit proxy/ranges proxy/route proxy/worker stats
UNIT_test_budget   := proxy/budget
UNIT_test_evmem    := evmem stats
UNIT_test_bus      := bus stats
UNIT_test_chart    := bus clock conf evmem health/health health/poolstat log metrics ops/chart ops/incident ops/mwindow ops/notice ops/postmortem ops/redact ops/remedy ops/sender ops/similar ops/store ops/storedb ops/words proxy/backend proxy/budget proxy/latency proxy/limit proxy/ranges proxy/route proxy/rpc proxy/rpcscan proxy/worker registry stats
UNIT_test_conf     := conf log ops/notice ops/words proxy/limit
UNIT_test_escalate := bus clock conf evmem fdlimit health/check health/curlev health/gtls health/health health/pconn health/poolstat inherit log metrics ops/acklink ops/alert ops/deliver ops/escalate ops/incident ops/mwindow ops/notice ops/outbox ops/postmortem ops/redact ops/remedy ops/sender ops/similar ops/status ops/store ops/storedb ops/words proxy/backend proxy/budget proxy/conn proxy/http proxy/latency proxy/limit proxy/ranges proxy/route proxy/rpc proxy/rpcscan proxy/tls proxy/worker registry stats
UNIT_test_feed     := bus clock conf evmem fdlimit health/check health/gtls health/health health/pconn health/poolstat inherit log metrics ops/feed ops/incident ops/mwindow ops/notice ops/out ops/postmortem ops/redact ops/remedy ops/sender ops/similar ops/status ops/store ops/storedb ops/words proxy/backend proxy/budget proxy/conn proxy/http proxy/latency proxy/limit proxy/ranges proxy/route proxy/rpc proxy/rpcscan proxy/tls proxy/worker registry stats
UNIT_test_health   := health/health proxy/ranges proxy/rpc proxy/rpcscan
UNIT_test_hook     := bus clock conf evmem fdlimit health/check health/gtls health/health health/pconn health/poolstat inherit log metrics ops/hook ops/incident ops/mwindow ops/notice ops/postmortem ops/redact ops/remedy ops/sender ops/similar ops/status ops/store ops/storedb ops/words proxy/backend proxy/budget proxy/conn proxy/http proxy/latency proxy/limit proxy/ranges proxy/route proxy/rpc proxy/rpcscan proxy/tls proxy/worker registry stats
UNIT_test_http     := proxy/http
UNIT_test_inherit  := inherit
UNIT_test_incident := bus clock conf evmem health/health health/poolstat log metrics ops/incident ops/mwindow ops/notice ops/postmortem ops/redact ops/remedy ops/sender ops/similar ops/store ops/storedb ops/words proxy/backend proxy/budget proxy/latency proxy/limit proxy/ranges proxy/route proxy/rpc proxy/rpcscan proxy/worker registry stats
UNIT_test_latency  := proxy/latency
UNIT_test_limit    := proxy/limit
UNIT_test_log      := log
UNIT_test_login    := ops/login
UNIT_test_metrics  := metrics proxy/rpc proxy/rpcscan
UNIT_test_poolstat := clock conf evmem health/poolstat log ops/notice ops/words proxy/backend proxy/budget proxy/latency proxy/limit proxy/ranges proxy/route proxy/worker registry stats
UNIT_test_postmortem := bus clock conf evmem health/health health/poolstat log metrics ops/incident ops/mwindow ops/notice ops/postmortem ops/redact ops/remedy ops/sender ops/similar ops/store ops/storedb ops/words proxy/backend proxy/budget proxy/latency proxy/limit proxy/ranges proxy/route proxy/rpc proxy/rpcscan proxy/worker registry stats
UNIT_test_mirror   := bus clock conf evmem fdlimit health/check health/curlev health/gtls health/health health/monitor health/pconn health/poolstat inherit log metrics ops/acklink ops/admin ops/alert ops/chart ops/deliver ops/escalate ops/feed ops/incident ops/mirror ops/mwindow ops/notice ops/out ops/outbox ops/page ops/postmortem ops/redact ops/remedy ops/sender ops/similar ops/status ops/store ops/storedb ops/submerge ops/subrule ops/subs ops/subtext ops/words proxy/backend proxy/budget proxy/conn proxy/http proxy/latency proxy/limit proxy/ranges proxy/route proxy/rpc proxy/rpcscan proxy/tls proxy/worker registry stats
UNIT_test_ranges   := proxy/ranges
UNIT_test_route    := clock conf evmem log ops/notice ops/words proxy/backend proxy/budget proxy/latency proxy/limit proxy/ranges proxy/route proxy/worker stats
UNIT_test_rpc      := proxy/rpc proxy/rpcscan
UNIT_test_rpcscan  := proxy/rpc proxy/rpcscan
UNIT_test_similar  := ops/similar
UNIT_test_subrule  := ops/subrule ops/subtext ops/words
UNIT_test_subsmerge := ops/submerge ops/subrule
UNIT_test_ws       := proxy/ws stats
UNIT_test_words    := ops/notice ops/words
UNIT_test_fdlimit  := fdlimit
SIM_nodesim        :=
MAN_mangen         := conf log ops/notice ops/words proxy/limit
FUZZ_fuzz_conf     := conf log ops/notice ops/words proxy/limit
FUZZ_fuzz_health   := health/health proxy/ranges proxy/rpc proxy/rpcscan
FUZZ_fuzz_http     := proxy/http
FUZZ_fuzz_ranges   := proxy/ranges
FUZZ_fuzz_rpc      := proxy/rpc proxy/rpcscan
FUZZ_fuzz_ws       := proxy/ws stats
# $(call modules,LIST,DIR,EXT): DIR/X.EXT for each module X of LIST, in order.
modules = $(foreach m,$(1),$(2)/$(m).$(3))
# $(call listed,VAR): the list VAR, or an error naming the line to add to this Makefile.
listed  = $(if $(filter undefined,$(origin $(1))),$(error $(1) is not set: add \
          "$(1) := MODULES" to the Makefile),$($(1)))

# Debian packages: to build, to test, to benchmark.
DEPS_BUILD := gcc make pkg-config libevent-dev libssl-dev libgnutls28-dev libcurl4-openssl-dev \
              libinih-dev libjansson-dev libsqlite3-dev libpq-dev
DEPS_TEST  := libcmocka-dev python3-pytest python3-prometheus-client openssl curl chromium \
              python3-aiosmtpd systemd logrotate groff man-db debhelper lintian dpkg-dev \
              prometheus keepalived iproute2 python3-feedparser nginx postgresql
DEPS_BENCH := wrk haproxy nginx-light iperf3
DEPS_FUZZ  := clang

ifeq ($(V),0)
Q  := @
SAY = @printf '  %-6s %s\n'
else
Q  :=
SAY = @true
endif

.PHONY: all man deb deps deps-bench test unit e2e e2e-pg layers asan tsan run run-fleet bench fuzz format format-check help clean

MAN_PAGES := $(BUILD)/man/man8/nodegate.8 $(BUILD)/man/man5/nodegate.ini.5

all: $(BUILD)/nodegate $(BUILD)/nodesim man ## build nodegate, the node simulator and the man pages

man: $(MAN_PAGES) ## the man pages: nodegate(8), and nodegate.ini(5) made from the option table

$(BUILD)/obj/%.o: src/%.c $(HDRS)
	$(SAY) CC $<
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(PC_CFLAGS) -c -o $@ $<

$(BUILD)/nodegate: $(OBJS)
	$(SAY) LD $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PC_LIBS)

.SECONDEXPANSION:
$(BUILD)/nodesim: tests/sim/nodesim.c $$(call modules,$$(SIM_nodesim),$(BUILD)/obj,o) | $(BUILD)
	$(SAY) CC $@
	$(Q)$(CC) $(CFLAGS) $(PC_CFLAGS) $(LDFLAGS) -o $@ $< $(filter %.o,$^) $(PC_LIBS)

# nodegate.ini(5) is written by man/mangen.c from src/conf.c's option table: it cannot drift
$(BUILD)/mangen: man/mangen.c $$(call modules,$$(MAN_mangen),$(BUILD)/obj,o) | $(BUILD)
	$(SAY) CC $@
	$(Q)$(CC) $(CFLAGS) $(PC_CFLAGS) $(LDFLAGS) -o $@ $< $(filter %.o,$^) $(PC_LIBS)

$(BUILD)/man/man5/nodegate.ini.5: man/nodegate.ini.5.in $(BUILD)/mangen
	$(SAY) MAN $@
	$(Q)mkdir -p $(dir $@)
	$(Q)$(BUILD)/mangen < $< > $@.tmp && mv $@.tmp $@

$(BUILD)/man/man8/nodegate.8: man/nodegate.8
	$(SAY) MAN $@
	$(Q)mkdir -p $(dir $@)
	$(Q)cp $< $@

$(BUILD)/tests/%: tests/unit/%.c $$(call modules,$$(UNIT_$$*),$(BUILD)/obj,o) | $(BUILD)/tests
	$(SAY) CC $@
	$(Q)$(CC) $(CFLAGS) $(PC_CFLAGS) $(LDFLAGS) -o $@ $< \
		$(call modules,$(call listed,UNIT_$*),$(BUILD)/obj,o) $(PC_LIBS) -lcmocka

$(BUILD) $(BUILD)/tests:
	$(Q)mkdir -p $@

deps: ## install the missing Debian packages needed to build and test (idempotent)
	$(Q)sh tests/deps.sh $(DEPS_BUILD) $(DEPS_TEST)

deps-bench: ## install the missing Debian packages the benchmark needs
	$(Q)sh tests/deps.sh $(DEPS_BENCH)

unit: $(UNIT_BINS) ## run the C unit tests (cmocka)
	$(Q)set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

# the suite runs once per data-plane width: workers = 1 (one loop) and workers = 2 (threads)
E2E_WORKERS ?= 1 2
e2e: all ## run the end-to-end tests (pytest, real processes on loopback), workers = 1 and 2
	$(Q)set -e; for w in $(E2E_WORKERS); do echo "== e2e, workers = $$w"; \
		NODEGATE_TEST_WORKERS=$$w NODEGATE_BUILD=$(abspath $(BUILD)) \
		/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/e2e; done

# the store's tests again on PostgreSQL (tests/e2e/pgserver.py starts one, as nobody, in a
# temporary folder): incidents, admin states, restarts, escalation, postmortems, subscribers
E2E_PG_TESTS ?= test_incidents.py test_admin.py test_escalation.py test_postmortem.py \
                test_subscriptions.py test_status.py
e2e-pg: all ## run the store's end-to-end tests with [store] url = postgresql://... (workers = 2)
	$(Q)echo "== e2e, store = postgres, workers = 2"; NODEGATE_TEST_STORE=postgres \
		NODEGATE_TEST_WORKERS=2 NODEGATE_BUILD=$(abspath $(BUILD)) /usr/bin/python3 -m pytest \
		-q -p no:cacheprovider $(addprefix tests/e2e/,$(E2E_PG_TESTS))

layers: ## check the layering rules of src/ and include/ from their #include lines
	$(Q)/usr/bin/python3 tests/layers.py

test: deps ## install what is missing, build, run every test (layering, unit and end-to-end)
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory layers
	$(Q)$(MAKE) --no-print-directory unit
	$(Q)$(MAKE) --no-print-directory e2e
	$(Q)$(MAKE) --no-print-directory e2e-pg

asan: deps ## run the whole suite under AddressSanitizer and UBSan
	$(Q)$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
		SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" all unit e2e

tsan: deps ## run the unit tests and the end-to-end suite (workers = 2) under ThreadSanitizer
	$(Q)$(MAKE) --no-print-directory BUILD=build-tsan OPT="-O1 -g -fno-omit-frame-pointer" \
		SAN="-fsanitize=thread" E2E_WORKERS=2 all unit e2e

# the package is built from a copy of the tree in $(BUILD)/deb/src (dpkg-buildpackage writes
# its outputs beside the source: they land in $(BUILD)/deb, not in the repository's parent)
DEB_DIR := $(BUILD)/deb
deb: ## build the Debian package into build/deb/ (dpkg-buildpackage -us -uc -b, then lintian)
	$(Q)rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/src/nodegate
	$(Q)git ls-files -co --exclude-standard -z | xargs -0 tar -cf - | tar -xf - -C $(DEB_DIR)/src/nodegate
	$(Q)cd $(DEB_DIR)/src/nodegate && DEB_BUILD_OPTIONS="$${DEB_BUILD_OPTIONS:-parallel=2}" \
		dpkg-buildpackage -us -uc -b > ../build.log 2>&1 || \
		{ tail -40 ../build.log; exit 1; }
	$(Q)mv $(DEB_DIR)/src/*.deb $(DEB_DIR)/src/*.buildinfo $(DEB_DIR)/src/*.changes $(DEB_DIR)/
	$(Q)rm -rf $(DEB_DIR)/src
	$(Q)lintian --fail-on error,warning $(DEB_DIR)/*.changes
	@ls $(DEB_DIR)/*.deb

run: deps all ## build and start the demo: nodegate in front of three simulated rippled nodes
	$(Q)sh tests/demo.sh

run-fleet: deps all ## the fleet demo: two nodegates on one PostgreSQL (started as an unprivileged user in a temporary folder) in front of the simulated nodes
	$(Q)sh tests/demo-fleet.sh

bench: deps deps-bench all ## benchmark nodegate beside HAProxy and nginx (not a test)
	$(Q)sh bench/run.sh

fuzz: ## build the libFuzzer targets (clang) into build-fuzz/
	$(Q)sh tests/deps.sh $(DEPS_FUZZ)
	$(Q)mkdir -p build-fuzz
	$(Q)set -e; $(foreach f,$(FUZZ_SRCS),n=$(basename $(notdir $(f))); echo "  FUZZ   $$n"; \
		clang -g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 -D_GNU_SOURCE -Iinclude \
		$(PC_CFLAGS) -o build-fuzz/$$n $(f) \
		$(call modules,$(call listed,FUZZ_$(basename $(notdir $(f)))),src,c) $(PC_LIBS);)

format: ## format the C sources with .clang-format
	$(Q)clang-format -i src/*.c src/*/*.c include/*.h include/*/*.h tests/unit/*.c tests/sim/*.c tests/fuzz/*.c

format-check: ## fail when a C source is not formatted
	$(Q)clang-format --dry-run -Werror src/*.c src/*/*.c include/*.h include/*/*.h tests/unit/*.c tests/sim/*.c tests/fuzz/*.c

clean: ## remove build outputs
	$(Q)rm -rf build build-asan build-tsan build-fuzz

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | awk -F'\t' '{printf "  %-13s %s\n", $$1, $$2}'
