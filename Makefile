# soundcloud-auth: libscauth, git-credential-soundcloud, pam_soundcloud.so and
# soundcloud-auth-relay (the CGI program of phone logins at kiosks).
#
#   make            build everything into build/
#   make check      install missing test dependencies (Debian, as root), run all tests
#   make demo       run the main flows against the local sandbox, narrated
#   make bench      benchmarks (ratios against baselines measured in the same run)
#   make fuzz       run each libFuzzer target for FUZZ_SECONDS
#   make install    PREFIX=/usr/local DESTDIR= PAMDIR=<multiarch>/security
#                   LIBEXECDIR=$(PREFIX)/libexec (soundcloud-auth-relay)
#
# Knobs: CC, CFLAGS, LDFLAGS as usual (ours are appended after yours);
# SANITIZE=address,undefined builds into build-san/; WERROR=1 adds -Werror.

CC ?= cc
CFLAGS ?= -O2 -g
LDFLAGS ?=
PKG_CONFIG ?= pkg-config
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
LIBEXECDIR ?= $(PREFIX)/libexec
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
PAMDIR ?= $(if $(MULTIARCH),/lib/$(MULTIARCH)/security,/lib/security)
SYSCONFDIR ?= /etc
DESTDIR ?=
SANITIZE ?=
WERROR ?=
FUZZ_SECONDS ?= 60
DEBDIR ?= build/deb

ifneq ($(SANITIZE),)
B ?= build-san
else
B ?= build
endif

# The pkg-config modules, each with the Debian package that provides it.  PKG_HEADERS are
# compiled against only (libcurl, libcrypto, libpq, json-c and libkeyutils are dlopen()ed on
# first use: a cached get maps none of them), PKG_LINKED are linked too.  Each is asked for on its own, when a compile first needs it (a first `make
# demo` or `make check` installs them before that), and a missing one stops the build with
# a message that names it.
PKG_HEADERS := libcurl:libcurl4-openssl-dev libcrypto:libssl-dev libpq:libpq-dev pam:libpam0g-dev \
	json-c:libjson-c-dev libkeyutils:libkeyutils-dev
PKG_LINKED :=
pkg_mod = $(firstword $(subst :, ,$(1)))
pkg_deb = $(lastword $(subst :, ,$(1)))
pkg_ask = $(call pkg_got,$(1),$(shell $(PKG_CONFIG) $(2) $(call pkg_mod,$(1)) 2>/dev/null || \
	echo '<missing>'))
pkg_got = $(if $(filter <missing>,$(2)),$(error $(strip $(if $(shell command -v $(PKG_CONFIG)),\
	pkg-config module $(call pkg_mod,$(1)) (Debian package $(call pkg_deb,$(1))) is missing \
	or incomplete: $(shell $(PKG_CONFIG) --print-errors --exists $(call pkg_mod,$(1)) 2>&1 | \
	head -n 2 | tr '\n' ' '),$(PKG_CONFIG) is not installed (Debian package pkg-config))); \
	scripts/deps installs what is missing or says how),$(2))
# Evaluated once, at first use.
PKGS_CFLAGS = $(eval PKGS_CFLAGS := $(foreach m,$(PKG_HEADERS) $(PKG_LINKED),$(call pkg_ask,$(m),--cflags)))$(PKGS_CFLAGS)
PKGS_LIBS = $(eval PKGS_LIBS := $(foreach m,$(PKG_LINKED),$(call pkg_ask,$(m),--libs)))$(PKGS_LIBS)
# libsecret (and GLib): headers only, for the one file that dlopen()s it.
SECRET_CFLAGS = $(eval SECRET_CFLAGS := $(call pkg_ask,libsecret-1:libsecret-1-dev,--cflags))$(SECRET_CFLAGS)

WARN := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wpointer-arith -Wcast-qual -Wwrite-strings -Wvla -Wno-unused-parameter
HARDEN := -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fno-strict-overflow
override CFLAGS += -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden $(WARN) $(HARDEN) \
	-MMD -MP -Ilib $(PKGS_CFLAGS)
override LDFLAGS += -Wl,-z,relro,-z,now -Wl,--as-needed
ifneq ($(WERROR),)
override CFLAGS += -Werror
endif
ifneq ($(SANITIZE),)
override CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
override LDFLAGS += -fsanitize=$(SANITIZE)
endif
LIBS = $(PKGS_LIBS) -ldl
# Unit tests and corpus replays call json-c and libkeyutils themselves.
TEST_LIBS = $(LIBS) $(call pkg_ask,json-c:libjson-c-dev,--libs) \
	$(call pkg_ask,libkeyutils:libkeyutils-dev,--libs)

LIB_SRC := $(sort $(wildcard lib/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o)
GC_SRC := $(sort $(wildcard git-credential/*.c))
GC_OBJ := $(GC_SRC:%.c=$(B)/%.o)
PAM_SRC := $(sort $(wildcard pam/*.c))
PAM_OBJ := $(PAM_SRC:%.c=$(B)/%.o)
RELAY_SRC := $(sort $(wildcard relay/*.c))
RELAY_OBJ := $(RELAY_SRC:%.c=$(B)/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))

STATIC := $(B)/libscauth.a
INTERNAL := $(B)/libscauth-internal.a
# The soname's number changes with every incompatible change of the ABI (lib/libscauth.abi,
# checked by library.bats): 1 since struct scauth_login_ui carries its size.
SONAME := libscauth.so.1
SHARED := $(B)/$(SONAME)
HELPER := $(B)/git-credential-soundcloud
PAMMOD := $(B)/pam_soundcloud.so
RELAY := $(B)/soundcloud-auth-relay
EXAMPLES := $(B)/examples/token
VERSION := $(shell sed -n 's/^\#define SCAUTH_VERSION "\(.*\)"/\1/p' lib/scauth.h)
LD ?= ld
OBJCOPY ?= objcopy

all: $(STATIC) $(SHARED) $(HELPER) $(PAMMOD) $(RELAY) $(EXAMPLES)

$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(B)/lib/secret_service.o: override CFLAGS += $(SECRET_CFLAGS)

# The archive others link: one relocatable object whose hidden symbols are
# made local, so that only the scauth_* API is global and no internal name
# (now, sfree, http_do ...) can clash with a program's own.  Unit tests, which
# call the internals, link $(INTERNAL), the objects as they were compiled.
$(B)/libscauth.o: $(LIB_OBJ)
	$(LD) -r -o $@.tmp $^
	$(OBJCOPY) --localize-hidden $@.tmp $@
	rm -f $@.tmp

$(STATIC): $(B)/libscauth.o
	rm -f $@
	$(AR) rcs $@ $<

$(INTERNAL): $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

# A program of someone else's, built against the installed-style archive.
$(B)/examples/%: examples/%.c $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(STATIC) $(LIBS)

$(SHARED): $(LIB_OBJ) lib/libscauth.map
	$(CC) $(CFLAGS) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=lib/libscauth.map \
		$(LDFLAGS) -o $@ $(LIB_OBJ) $(LIBS)
	ln -sf $(SONAME) $(B)/libscauth.so

# Our front ends link the objects as compiled ($(INTERNAL)): they call the helpers of
# lib/frontend.h, which are not part of the ABI and hidden in $(STATIC) and $(SHARED).
$(HELPER): $(GC_OBJ) $(INTERNAL)
	$(CC) $(CFLAGS) -pie $(LDFLAGS) -o $@ $(GC_OBJ) $(INTERNAL) $(LIBS)

# The module exports only pam_sm_* (pam/pam_soundcloud.map).
$(PAMMOD): $(PAM_OBJ) $(INTERNAL) pam/pam_soundcloud.map
	$(CC) $(CFLAGS) -shared -Wl,--version-script=pam/pam_soundcloud.map -Wl,-z,defs \
		$(LDFLAGS) -o $@ $(PAM_OBJ) $(INTERNAL) $(LIBS) -lpam

# The relay is a program of its own: it links libpq, and the library's internals it
# shares (the INI parser, URL and query codecs, the callback parser, secret buffers).
$(RELAY): $(RELAY_OBJ) $(INTERNAL)
	$(CC) $(CFLAGS) -pie $(LDFLAGS) -o $@ $(RELAY_OBJ) $(INTERNAL) $(LIBS) \
		$(call pkg_ask,libpq:libpq-dev,--libs)

# Unit tests see the internals: the library archive and archives of the
# front ends' objects other than their entry points (main, the PAM stacks).
GC_CORE := $(filter-out $(B)/git-credential/main.o,$(GC_OBJ))
PAM_STACKS := $(B)/pam/auth.o $(B)/pam/account.o $(B)/pam/session.o
PAM_CORE := $(filter-out $(PAM_STACKS),$(PAM_OBJ))
$(B)/gcred.a: $(GC_CORE)
	rm -f $@
	$(AR) rcs $@ $^
$(B)/pamcore.a: $(PAM_CORE)
	rm -f $@
	$(AR) rcs $@ $^
# The relay's parsers, without its entry point and database calls.
RELAY_CORE := $(filter-out $(B)/relay/main.o $(B)/relay/db.o,$(RELAY_OBJ))
$(B)/relaycore.a: $(RELAY_CORE)
	rm -f $@
	$(AR) rcs $@ $^

$(B)/tests/test_%: tests/unit/test_%.c $(B)/gcred.a $(B)/pamcore.a $(INTERNAL)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Igit-credential -Ipam -Itests/unit $(LDFLAGS) -o $@ $< \
		$(B)/gcred.a $(B)/pamcore.a $(INTERNAL) $(TEST_LIBS) -lcmocka -lpamtest -lpam

# Every fuzz target also builds as a replay of its corpus (seeds and past
# crashes) with the ordinary compiler and flags, so make check runs them.
FUZZ_NAMES := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
REPLAY_BIN := $(FUZZ_NAMES:%=$(B)/tests/replay_%)
$(B)/tests/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(B)/gcred.a $(B)/pamcore.a \
		$(B)/relaycore.a $(INTERNAL)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Igit-credential -Ipam -Irelay $(LDFLAGS) -o $@ tests/fuzz/fuzz_$*.c \
		tests/fuzz/replay.c $(B)/gcred.a $(B)/pamcore.a $(B)/relaycore.a $(INTERNAL) \
		$(TEST_LIBS) -lpam

# Test tools for the Secret Service store: the library's items from the command
# line, and locking the keyring as a person would (GIO, tests only).
SECRET_TOOLS := $(B)/tests/ss-item $(B)/tests/keyring-ctl
$(B)/tests/ss-item: tests/secret/ss-item.c $(INTERNAL)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(INTERNAL) $(LIBS)
$(B)/tests/keyring-ctl: tests/secret/keyring-ctl.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(call pkg_ask,gio-2.0:libglib2.0-dev,--cflags) $(LDFLAGS) -o $@ $< \
		$(call pkg_ask,gio-2.0:libglib2.0-dev,--libs)

# The library in a context made like the PAM module's (SCAUTH_CTX_NO_ENV), for
# the fleet suite: what a caller's PG* variables may and may not change.
FLEET_TOOLS := $(B)/tests/noenv-token $(B)/tests/reseal
$(B)/tests/noenv-token: tests/fleet/noenv-token.c $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(STATIC) $(LIBS)
# What a fleet machine with altered code could write (it holds the seal key).
$(B)/tests/reseal: tests/fleet/reseal.c $(INTERNAL)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(INTERNAL) $(LIBS)

# The public API on the app grant, for the broker suites: its label across a refresh.
BROKER_TOOLS := $(B)/tests/app-label
$(B)/tests/app-label: tests/broker/app-label.c $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(STATIC) $(LIBS)

# Records the ABI of the shared library (lib/libscauth.abi), against which library.bats
# compares every build: run it for a deliberate change, and bump SONAME if it breaks callers.
abi: $(SHARED)
	abidw --no-corpus-path --no-show-locs --headers-dir lib --drop-private-types \
		--out-file lib/libscauth.abi $(SHARED)

units: $(UNIT_BIN) $(REPLAY_BIN) $(SECRET_TOOLS) $(FLEET_TOOLS) $(BROKER_TOOLS)

deps:
	@scripts/deps

# Both install what is missing first, then build in a make of their own: the pkg-config
# modules are asked for once they are there.
check: deps
	@scripts/deps --peer
	$(MAKE) all units
	tests/run $(B)

demo: deps
	$(MAKE) all
	tests/demo.sh $(B)

bench: all $(SECRET_TOOLS)
	tests/bench/run $(B)

fuzz:
	tests/fuzz/run $(FUZZ_SECONDS)

# The Debian packages (debian/), unsigned, in build/deb (scripts/deb says what it does).
deb:
	scripts/deb $(DEBDIR)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(LIBDIR)/pkgconfig \
		$(DESTDIR)$(INCLUDEDIR) \
		$(DESTDIR)$(PAMDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(LIBEXECDIR)
	install -m 0755 $(HELPER) $(DESTDIR)$(BINDIR)/
	install -m 0644 $(STATIC) $(DESTDIR)$(LIBDIR)/
	install -m 0755 $(SHARED) $(DESTDIR)$(LIBDIR)/
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libscauth.so
	install -m 0644 lib/scauth.h $(DESTDIR)$(INCLUDEDIR)/
	# The paths of this install (PREFIX, LIBDIR as given now) go into libscauth.pc.
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
		lib/libscauth.pc.in >$(DESTDIR)$(LIBDIR)/pkgconfig/libscauth.pc
	chmod 0644 $(DESTDIR)$(LIBDIR)/pkgconfig/libscauth.pc
	install -m 0644 $(PAMMOD) $(DESTDIR)$(PAMDIR)/
	install -m 0644 doc/git-credential-soundcloud.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 doc/soundcloud-auth.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 doc/pam_soundcloud.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0755 $(RELAY) $(DESTDIR)$(LIBEXECDIR)/
	install -m 0644 doc/soundcloud-auth-relay.8 $(DESTDIR)$(MANDIR)/man8/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/git-credential-soundcloud \
		$(DESTDIR)$(LIBDIR)/libscauth.a $(DESTDIR)$(LIBDIR)/$(SONAME) \
		$(DESTDIR)$(LIBDIR)/libscauth.so $(DESTDIR)$(INCLUDEDIR)/scauth.h \
		$(DESTDIR)$(LIBDIR)/pkgconfig/libscauth.pc \
		$(DESTDIR)$(PAMDIR)/pam_soundcloud.so \
		$(DESTDIR)$(MANDIR)/man1/git-credential-soundcloud.1 \
		$(DESTDIR)$(MANDIR)/man5/soundcloud-auth.conf.5 \
		$(DESTDIR)$(MANDIR)/man8/pam_soundcloud.8 \
		$(DESTDIR)$(LIBEXECDIR)/soundcloud-auth-relay \
		$(DESTDIR)$(MANDIR)/man8/soundcloud-auth-relay.8

# What the pkg-config modules give, for builds outside this Makefile (tests/fuzz/run).
pkg-cflags:
	@echo $(PKGS_CFLAGS) $(SECRET_CFLAGS)
pkg-libs:
	@echo $(PKGS_LIBS) $(call pkg_ask,json-c:libjson-c-dev,--libs)

clean:
	rm -rf build build-san build-fuzz

.PHONY: all abi units deps check demo bench fuzz deb install uninstall pkg-cflags pkg-libs clean

-include $(LIB_OBJ:.o=.d) $(GC_OBJ:.o=.d) $(PAM_OBJ:.o=.d) $(RELAY_OBJ:.o=.d) $(UNIT_BIN:=.d) $(REPLAY_BIN:=.d) \
	$(EXAMPLES:=.d)
