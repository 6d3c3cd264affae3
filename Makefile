# faultmap - see README.md
CC ?= cc
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
PRELOADDIR ?= $(LIBDIR)/faultmap
MANDIR ?= $(PREFIX)/share/man
UDEVRULESDIR ?= $(PREFIX)/lib/udev/rules.d
SYSTEMDUSERUNITDIR ?= $(PREFIX)/lib/systemd/user
BUILD ?= build
CFLAGS ?= -O2 -g
WARN := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CPPFLAGS += -D_GNU_SOURCE -Iinclude -Isrc
LDLIBS += -luring -lpthread

SRCS := $(wildcard src/*.c src/daemon/*.c src/client/*.c src/store/*.c)
OBJS := $(SRCS:src/%.c=$(BUILD)/obj/%.o)
PIC_OBJS := $(SRCS:src/%.c=$(BUILD)/pic/%.o)
TESTS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))
TEST_HELPERS := tests/helpers.c tests/nbdkit.c tests/ceph.c tests/store_tests.c
TEST_HELPER_OBJS := $(TEST_HELPERS:tests/%.c=$(BUILD)/testobj/%.o)
TEST_HEADERS := tests/helpers.h tests/nbdkit.h tests/ceph.h tests/store_tests.h
# Builds (not test runs) use every CPU.
JOBS ?= $(shell nproc 2>/dev/null || echo 1)
SRC_HEADERS := $(wildcard src/*.h src/daemon/*.h src/client/*.h src/store/*.h)

# The library's version (include/faultmap.h); the soname changes with the
# major number only.
VERSION_MAJOR := $(shell sed -n 's/^\#define FAULTMAP_VERSION_MAJOR //p' include/faultmap.h)
VERSION := $(VERSION_MAJOR).$(shell sed -n 's/^\#define FAULTMAP_VERSION_MINOR //p' include/faultmap.h)
SONAME := libfaultmap.so.$(VERSION_MAJOR)

.PHONY: all test check check-scripts asan tsan sanitizers install uninstall clean demo bench bench-plot FORCE
all: $(BUILD)/libfaultmap.a $(BUILD)/libfaultmap.so $(BUILD)/faultmap.pc $(BUILD)/scene \
	$(BUILD)/libfaultmap-preload.so $(BUILD)/faultmap

# The interposer: the engine built with FM_INTERPOSER (its system calls go
# straight to the kernel) plus interposer/, for LD_PRELOAD.
PRELOAD_SRCS := $(wildcard interposer/*.c)
PRELOAD_OBJS := $(SRCS:src/%.c=$(BUILD)/preload/%.o) $(PRELOAD_SRCS:interposer/%.c=$(BUILD)/preload/interposer-%.o)
$(BUILD)/preload/%.o: src/%.c $(SRC_HEADERS) include/faultmap.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -DFM_INTERPOSER $(WARN) $(CFLAGS) -fPIC -fvisibility=hidden -c $< -o $@
$(BUILD)/preload/interposer-%.o: interposer/%.c $(SRC_HEADERS) include/faultmap.h $(wildcard interposer/*.h)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -DFM_INTERPOSER $(WARN) $(CFLAGS) -fPIC -fvisibility=hidden -c $< -o $@
$(BUILD)/libfaultmap-preload.so: $(PRELOAD_OBJS)
	$(CC) -shared $(CFLAGS) -o $@ $(PRELOAD_OBJS) $(LDLIBS)

# The CLI (programs/): faultmap run, stat, inspect, trace. It looks for the
# interposer at FM_PRELOAD_NAME from its own directory (find_preload in
# programs/common.c): beside it in the build tree; for the installed CLI,
# the way from BINDIR to PRELOADDIR, so that it also works under DESTDIR.
$(BUILD)/faultmap: PRELOAD_NAME := libfaultmap-preload.so
$(BUILD)/install/faultmap: PRELOAD_NAME = $(shell realpath -m --relative-to=$(BINDIR) $(PRELOADDIR))/libfaultmap-preload.so
$(BUILD)/install/faultmap: $(BUILD)/install-dirs
# faultmap --version names the git revision it was built from, if known.
$(BUILD)/faultmap $(BUILD)/install/faultmap: $(wildcard programs/*.c programs/*.h) $(SRC_HEADERS) $(BUILD)/libfaultmap.a $(BUILD)/git-rev
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -DFM_PRELOAD_NAME='"$(PRELOAD_NAME)"' -DFM_GIT_REV="\"$$(cat $(BUILD)/git-rev)\"" \
		$(wildcard programs/*.c) $(BUILD)/libfaultmap.a $(LDLIBS) -lm $(ASAN_CXX) -o $@
# Under ASan, the daemon (which opens RADOS stores for its clients) needs
# libstdc++ from the start, as the RADOS tests do (see below).
ASAN_CXX = $(if $(findstring sanitize=address,$(CFLAGS)),-Wl$(comma)--push-state$(comma)--no-as-needed -lstdc++ -Wl$(comma)--pop-state)
comma := ,

# The git revision of the tree (empty outside git), rewritten only when it
# changes, so that the CLI is rebuilt only then.
$(BUILD)/git-rev: FORCE
	@mkdir -p $(@D)
	@git describe --always --dirty 2>/dev/null | tr -cd '0-9A-Za-z._-' > $@.new || true
	@if cmp -s $@.new $@; then rm -f $@.new; else mv $@.new $@; fi

# The install directories, as the files that hold them (the pkg-config
# file, the installed CLI) were made with: rewritten only when they
# change, so that `make install PREFIX=...` rebuilds those files.
$(BUILD)/install-dirs: FORCE
	@mkdir -p $(@D)
	@echo '$(PREFIX) $(BINDIR) $(LIBDIR) $(INCLUDEDIR) $(PRELOADDIR)' > $@.new
	@if cmp -s $@.new $@; then rm -f $@.new; else mv $@.new $@; fi

$(BUILD)/obj/%.o: src/%.c $(SRC_HEADERS) include/faultmap.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -c $< -o $@
$(BUILD)/pic/%.o: src/%.c $(SRC_HEADERS) include/faultmap.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -fPIC -fvisibility=hidden -c $< -o $@
$(BUILD)/libfaultmap.a: $(OBJS)
	ar rcs $@ $^
# The shared library and its links, as installed: libfaultmap.so (to link
# with) -> libfaultmap.so.0 (the soname, what programs load) -> the file.
$(BUILD)/libfaultmap.so.$(VERSION): $(PIC_OBJS) src/libfaultmap.map
	$(CC) -shared -Wl,--version-script=src/libfaultmap.map -Wl,-soname,$(SONAME) $(CFLAGS) -o $@ $(PIC_OBJS) $(LDLIBS)
$(BUILD)/$(SONAME): $(BUILD)/libfaultmap.so.$(VERSION)
	ln -sf libfaultmap.so.$(VERSION) $@
$(BUILD)/libfaultmap.so: $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $@
# Rebuilt with the PREFIX of each make (install-dirs); paths under PREFIX
# are written relative to ${prefix}.
$(BUILD)/faultmap.pc: faultmap.pc.in $(BUILD)/install-dirs include/faultmap.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@LIBDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))|' \
	    -e 's|@INCLUDEDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))|' $< > $@

# The tests' helpers are compiled once per build, not into every test.
$(BUILD)/testobj/%.o: tests/%.c $(TEST_HEADERS) include/faultmap.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -Itests -c $< -o $@
$(BUILD)/tests/%: tests/%.c $(TEST_HELPER_OBJS) $(TEST_HEADERS) $(BUILD)/libfaultmap.a $(TEST_EXTRA)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -Itests $(if $(TEST_EXTRA),-Ibench) $< $(TEST_HELPER_OBJS) $(filter %.c,$(TEST_EXTRA)) $(BUILD)/libfaultmap.a $(LDLIBS) -o $@
# The RADOS tests load librados (C++) with dlopen: ASan's __cxa_throw
# interceptor finds the real one only if libstdc++ is there from the start
# (else its CHECK fails at librados's first exception).
$(BUILD)/tests/test_rados_%: LDLIBS += -Wl,--push-state,--no-as-needed -lstdc++ -Wl,--pop-state
# Tests that run a program in a memory cgroup make it with fm-bench's code.
$(BUILD)/tests/test_default_budget_fits_memory_cgroup: TEST_EXTRA := bench/cgroup.c bench/cgroup_env.h

$(BUILD)/scene: examples/scene.c $(BUILD)/libfaultmap.a
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) $< $(BUILD)/libfaultmap.a $(LDLIBS) -o $@

# The benchmark (bench/): faultmap against kernel mmap, pread (and UMap).
FM_BENCH_REV ?= $(shell git describe --always --dirty 2>/dev/null || echo unknown)
PROBES := $(patsubst bench/probes/%.c,$(BUILD)/%,$(wildcard bench/probes/probe-*.c))
# fm-rados-bench (bench/store/): a RADOS object through a mapping against
# librados; built where librados's header is (Debian librados-dev).
RADOS_BENCH := $(if $(wildcard /usr/include/rados/librados.h),$(BUILD)/fm-rados-bench)
bench: $(BUILD)/fm-bench $(BUILD)/fm-floor $(PROBES) $(RADOS_BENCH)
$(BUILD)/fm-rados-bench: bench/store/fm-rados-bench.c $(BUILD)/libfaultmap.a
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) $< $(BUILD)/libfaultmap.a $(LDLIBS) -lrados -o $@
# Probes of the directions of issue 11 (bench/probes/, docs/performance-probes.md):
# each measures one mechanism with no engine; built here, never run by tests.
$(BUILD)/probe-%: bench/probes/probe-%.c bench/probes/probe.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) $< -lpthread -o $@
# What a page of workload 1 costs at least: the kernel's minor fault against
# faultmap's unavoidable allocate-and-copy (bench/floor/fm-floor.c).
$(BUILD)/fm-floor: bench/floor/fm-floor.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) $< -o $@
$(BUILD)/fm-bench: bench/*.c bench/*.h $(BUILD)/libfaultmap.a
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -DFM_BENCH_REV='"$(FM_BENCH_REV)"' bench/*.c $(BUILD)/libfaultmap.a $(LDLIBS) -lm -o $@
# Plots from the last full run's CSV (the benchmark also calls this itself).
bench-plot:
	bench/plot.sh docs/bench/results.csv docs/bench

# The seed's example, on faultmap.
demo: $(BUILD)/scene
	$(BUILD)/scene

# The whole suite: the normal build, the CLI and real programs under
# faultmap run (scripts), then ASan+UBSan and TSan side by side (their own
# build trees; each one's output is kept in build/ and shown once both have
# ended; the suite fails if either does). Side by side, CI's run takes
# about 5 minutes less on 2 CPUs: `make asan` and `make tsan` still run one.
test: check check-scripts sanitizers
sanitizers:
	@mkdir -p build
	@$(MAKE) asan >build/asan.log 2>&1 & a=$$!; \
	$(MAKE) tsan >build/tsan.log 2>&1 & t=$$!; \
	wait $$a; ra=$$?; wait $$t; rt=$$?; \
	echo "== ASan+UBSan (exit $$ra)"; cat build/asan.log; \
	echo "== TSan (exit $$rt)"; cat build/tsan.log; \
	[ $$ra -eq 0 ] && [ $$rt -eq 0 ]
check:
	@echo "make -j$(JOBS) all and the tests in $(BUILD)"
	@$(MAKE) -j$(JOBS) all $(TESTS)
	tests/run.sh $(BUILD)/tests
check-scripts: all
	FAULTMAP_BUILD=$(abspath $(BUILD)) tests/run.sh tests/cli
	FAULTMAP_BUILD=$(abspath $(BUILD)) tests/run.sh tests/programs
asan:
	$(MAKE) BUILD=build/asan CC=clang CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" check
tsan:
	$(MAKE) BUILD=build/tsan CC=clang CFLAGS="-O1 -g -fsanitize=thread" check

# `make install` (PREFIX, BINDIR, LIBDIR, INCLUDEDIR, PKGCONFIGDIR,
# PRELOADDIR, MANDIR, UDEVRULESDIR; DESTDIR for a staging tree): the library
# (static, and shared with its soname links), the header, the pkg-config
# file, the CLI and the interposer it preloads (in PRELOADDIR, off the
# linker's path), the man pages (man/; a page that is a link to another is
# installed as a copy of it), and the udev rule that gives the group
# faultmap /dev/userfaultfd (contrib/; udev reads /usr/lib/udev/rules.d and
# /usr/local/lib/udev/rules.d; it does nothing until that group exists and
# udev reloads its rules: README, "Permissions"). UDEVRULESDIR= (empty)
# leaves the rule out. And the systemd user unit that runs the daemon
# (contrib/faultmap.service, with BINDIR's faultmap; systemd reads
# /usr/lib/systemd/user and /usr/local/lib/systemd/user);
# SYSTEMDUSERUNITDIR= leaves it out. `make uninstall` removes all of it,
# then the directories install created, where empty.
MAN_PAGES := $(patsubst man/%,%,$(wildcard man/man1/*.1 man/man3/*.3 man/man7/*.7))
INSTALLED := $(BINDIR)/faultmap $(LIBDIR)/libfaultmap.a $(LIBDIR)/libfaultmap.so.$(VERSION) \
	$(LIBDIR)/$(SONAME) $(LIBDIR)/libfaultmap.so $(INCLUDEDIR)/faultmap.h \
	$(PKGCONFIGDIR)/faultmap.pc $(PRELOADDIR)/libfaultmap-preload.so $(PRELOADDIR)/faultmap \
	$(addprefix $(MANDIR)/,$(MAN_PAGES)) \
	$(if $(UDEVRULESDIR),$(UDEVRULESDIR)/60-faultmap-userfaultfd.rules) \
	$(if $(SYSTEMDUSERUNITDIR),$(SYSTEMDUSERUNITDIR)/faultmap.service)
$(BUILD)/install/faultmap.service: contrib/faultmap.service $(BUILD)/install-dirs
	@mkdir -p $(@D)
	sed 's|/usr/local/bin/faultmap|$(BINDIR)/faultmap|' $< > $@
# Without DESTDIR, install-libpath.sh then makes the dynamic linker find
# the library (as root: ldconfig, where LIBDIR is in ld.so.conf), or says
# how to (LD_LIBRARY_PATH, -Wl,-rpath); ldprobe is what it asks ldd about.
LDCONFIG ?= ldconfig
$(BUILD)/install/ldprobe: $(BUILD)/libfaultmap.so
	@mkdir -p $(@D)
	echo 'int main(void) { return 0; }' | $(CC) -x c - -o $@ -L$(BUILD) -Wl,--no-as-needed -lfaultmap $(LDLIBS)
# The directories install makes; those it created (not there before) are
# listed in CREATED_DIRS, and uninstall removes them again if they are
# empty (scripts/install-dirs.sh).
INSTALL_DIRS = $(addprefix $(DESTDIR),$(BINDIR) $(LIBDIR) $(INCLUDEDIR) $(PKGCONFIGDIR) \
	$(PRELOADDIR) $(MANDIR)/man1 $(MANDIR)/man3 $(MANDIR)/man7 $(UDEVRULESDIR) \
	$(SYSTEMDUSERUNITDIR))
CREATED_DIRS = $(BUILD)/install/created-dirs
install: all $(BUILD)/install/faultmap $(BUILD)/install/faultmap.service \
		$(if $(DESTDIR),,$(BUILD)/install/ldprobe)
	scripts/install-dirs.sh record $(CREATED_DIRS) $(INSTALL_DIRS)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
		$(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(PRELOADDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man7
	install -m 644 man/man1/*.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 man/man3/*.3 $(DESTDIR)$(MANDIR)/man3/
	install -m 644 man/man7/*.7 $(DESTDIR)$(MANDIR)/man7/
	install -m 755 $(BUILD)/install/faultmap $(DESTDIR)$(BINDIR)/faultmap
	install -m 644 $(BUILD)/libfaultmap.a $(DESTDIR)$(LIBDIR)/
	install -m 755 $(BUILD)/libfaultmap.so.$(VERSION) $(DESTDIR)$(LIBDIR)/
	ln -sf libfaultmap.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libfaultmap.so
	install -m 644 include/faultmap.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 $(BUILD)/faultmap.pc $(DESTDIR)$(PKGCONFIGDIR)/
	install -m 755 $(BUILD)/libfaultmap-preload.so $(DESTDIR)$(PRELOADDIR)/
ifneq ($(UDEVRULESDIR),)
	install -d $(DESTDIR)$(UDEVRULESDIR)
	install -m 644 contrib/60-faultmap-userfaultfd.rules $(DESTDIR)$(UDEVRULESDIR)/
endif
ifneq ($(SYSTEMDUSERUNITDIR),)
	install -d $(DESTDIR)$(SYSTEMDUSERUNITDIR)
	install -m 644 $(BUILD)/install/faultmap.service $(DESTDIR)$(SYSTEMDUSERUNITDIR)/
endif
	# The library starts the daemon with the faultmap executable it finds
	# in its own directory, or in faultmap/ beside it (client.c).
	ln -sf $(shell realpath -m --relative-to=$(PRELOADDIR) $(BINDIR))/faultmap $(DESTDIR)$(PRELOADDIR)/faultmap
ifeq ($(DESTDIR),)
	@LDCONFIG='$(LDCONFIG)' scripts/install-libpath.sh $(LIBDIR) $(SONAME) $(BUILD)/install/ldprobe
endif
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	-rmdir $(DESTDIR)$(PRELOADDIR)
	scripts/install-dirs.sh remove $(CREATED_DIRS) $(INSTALL_DIRS)

clean:
	rm -rf build
