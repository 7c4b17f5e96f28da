# taskgw build.  `make` builds everything, `make run` starts a demo stack,
# `make test` runs every suite, `make test-asan` runs them under ASan+UBSan,
# `make test-valgrind` the worker's end-to-end suites under valgrind,
# `make lint` the static analysers.

NGX_SRC     ?= /usr/share/nginx/src
NGINX       ?= /usr/sbin/nginx
PREFIX      ?= /usr/local
NGX_MODDIR  ?= /usr/lib/nginx/modules

BUILD       := build
# SAN=1 builds everything with AddressSanitizer and UBSan into build/asan.
ifeq ($(SAN),1)
OUT         := $(BUILD)/asan
SAN_FLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer \
               -fno-sanitize-recover=undefined
else
OUT         := $(BUILD)
SAN_FLAGS   :=
endif

NGX_BUILD   := $(OUT)/nginx
MODULE      := $(OUT)/ngx_http_taskgw_module.so
MODULE_SRCS := config $(wildcard ngx_taskgw_module/*.c ngx_taskgw_module/*.h) \
               worker/common/tgw_keys.h worker/common/tgw_lua.h \
               worker/common/tgw_trace.h worker/common/tgw_hex.h
NGX_CC_OPT  := -g -O2 -fstack-protector-strong -Wformat \
               -Werror=format-security -fPIC -Wdate-time \
               -D_FORTIFY_SOURCE=2 $(SAN_FLAGS)
NGX_LD_OPT  := -Wl,-z,relro -Wl,-z,now -fPIC $(SAN_FLAGS)

.PHONY: all deps module worker run test test-asan test-valgrind lint fuzz \
        fuzz-run install clean

all: deps module worker

deps:
	@sh scripts/deps.sh

module: $(MODULE)


# nginx-dev ships headers and the configure machinery; a module is built
# with exactly Debian's configure flags so its signature matches the stock
# /usr/sbin/nginx binary.
$(NGX_BUILD)/objs/Makefile: config $(NGX_SRC)/conf_flags
	rm -rf $(NGX_BUILD)
	mkdir -p $(OUT)
	cp -r $(NGX_SRC) $(NGX_BUILD)
	cd $(NGX_BUILD) && bash -c '. ./conf_flags && ./configure \
	    "$${NGX_CONF_FLAGS[@]}" \
	    --with-cc-opt="$(NGX_CC_OPT)" --with-ld-opt="$(NGX_LD_OPT)" \
	    --add-dynamic-module=$(CURDIR)' > configure.log 2>&1 \
	    || { cat $(NGX_BUILD)/configure.log; exit 1; }

# the module includes the Lua scripts' header too: made before it is needed
worker/common/tgw_lua.h: $(wildcard worker/common/lua/*.lua worker/common/lua/lib/*.lua) \
		scripts/lua2h.sh
	$(MAKE) -s -C worker common/tgw_lua.h

$(MODULE): $(NGX_BUILD)/objs/Makefile $(MODULE_SRCS)
	$(MAKE) -s -C $(NGX_BUILD) -f objs/Makefile modules
	@# a new file, renamed into place: a running nginx keeps its mapping
	cp $(NGX_BUILD)/objs/ngx_http_taskgw_module.so $@.tmp
	mv -f $@.tmp $@

worker:
	$(MAKE) -s -C worker OUT=$(CURDIR)/$(OUT) SAN_FLAGS="$(SAN_FLAGS)"

run: all
	@sh scripts/run.sh

# the test dependencies first (scripts/deps.sh says which and why), then
# the build, one after the other even under make -j
test:
	@sh scripts/deps.sh test
	@$(MAKE) --no-print-directory all
	@sh scripts/test.sh

# The plain build too: t/e2e/124-install.t installs it (and skips, which
# counts as a failure, when it is missing, as in a fresh checkout).
test-asan:
	@sh scripts/deps.sh test
	@$(MAKE) --no-print-directory all
	$(MAKE) SAN=1 module worker
	@TASKGW_SAN=1 sh scripts/test.sh

# The end-to-end suites that run taskgw-worker, every worker under
# valgrind's memcheck: a memory error or a definite leak fails the suite
# (TASKGW_VALGRIND in t/lib/TaskGW/Stack.pm, docs/testing.md).
VALGRIND_SUITES ?= $(shell grep -l start_worker t/e2e/*.t)

test-valgrind:
	@sh scripts/deps.sh test
	@$(MAKE) --no-print-directory all
	@TASKGW_VALGRIND=1 sh scripts/test.sh $(VALGRIND_SUITES)

# cppcheck and clang-tidy over the module, the worker, the CLI and the unit
# tests, each file with its own compile flags (scripts/lint.sh,
# .clang-tidy, scripts/cppcheck.supp); fails on any finding.
lint: $(NGX_BUILD)/objs/Makefile worker/common/tgw_lua.h
	@sh scripts/lint.sh $(NGX_BUILD)

# libFuzzer targets of the parsers (fuzz/, docs/testing.md), built with
# clang, ASan and UBSan into build/fuzz; `make fuzz-run` fuzzes each one
# for FUZZ_TIME seconds, one after the other (FUZZ_TARGETS="conf cron":
# only those).
FUZZ_TIME ?= 600
FUZZ_TARGETS ?=

# The module's targets need nginx's configured headers (the module's
# configure step) and a few of nginx's core files, fetched from Debian by
# scripts/nginx-src.sh (which `sh scripts/deps.sh test` runs too).
fuzz: $(BUILD)/nginx/objs/Makefile worker/common/tgw_lua.h
	@sh scripts/nginx-src.sh
	$(MAKE) -s -C fuzz OUT=$(CURDIR)/$(BUILD)/fuzz \
	    NGX_BUILD=$(CURDIR)/$(BUILD)/nginx

fuzz-run:
	@FUZZ_TARGETS="$(FUZZ_TARGETS)" sh scripts/fuzz-smoke.sh $(FUZZ_TIME)

SYSTEMD_DIR ?= /etc/systemd/system
CONF_DIR    ?= /etc/taskgw
DOC_DIR     ?= $(PREFIX)/share/doc/taskgw

# The module, the binaries, the worker's systemd unit, the docs, and an
# example worker config when /etc/taskgw/worker.json does not exist yet
# (an operator's own config is never overwritten).
install: all
	install -d $(DESTDIR)$(NGX_MODDIR) $(DESTDIR)$(PREFIX)/bin \
	    $(DESTDIR)$(SYSTEMD_DIR) $(DESTDIR)$(CONF_DIR) $(DESTDIR)$(DOC_DIR)
	install -m 0644 $(MODULE) $(DESTDIR)$(NGX_MODDIR)/
	install -m 0755 $(BUILD)/taskgw-worker $(BUILD)/taskgw-exec-keeper \
	    $(BUILD)/taskgwctl $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 conf/taskgw-worker.service $(DESTDIR)$(SYSTEMD_DIR)/
	install -m 0644 docs/*.md conf/nginx.conf conf/grafana-dashboard.json \
	    conf/prometheus-alerts.yml \
	    $(DESTDIR)$(DOC_DIR)/
	[ -e $(DESTDIR)$(CONF_DIR)/worker.json ] || \
	    install -m 0640 conf/taskgw-worker.json \
	        $(DESTDIR)$(CONF_DIR)/worker.json

clean:
	rm -rf $(BUILD)
