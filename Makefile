# kiln — top-level build. Plain GNU make; each component adds itself through
# its own <folder>/build.mk fragment. See docs/HACKING.md.

BUILD   ?= build
PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
CFLAGS  ?= -O2 -g

PKGS := yajl libseccomp libcap mount

# Flags every object is built with; the user's CPPFLAGS, CFLAGS and LDFLAGS
# come after them (CFLAGS replaces the default above), in every compile and
# every link: $(KILN_COMPILE) and $(KILN_LINK).
KILN_CPPFLAGS = -D_GNU_SOURCE -I. $(PKG_CFLAGS)
KILN_CFLAGS = -std=gnu11 -Wall -Wextra -Werror -MMD -MP
KILN_LDLIBS = $(PKG_LIBS) -lpthread
KILN_COMPILE = $(CC) $(KILN_CPPFLAGS) $(CPPFLAGS) $(KILN_CFLAGS) $(CFLAGS)
KILN_LINK = $(CC) $(CFLAGS) $(LDFLAGS)

# Filled by the fragments.
BINS        :=   # installed programs, under $(BUILD)/bin
LIBS        :=   # internal static libraries (linked as one group)
UNIT_TESTS  :=   # TAP programs, under $(BUILD)/tests/unit
TEST_HELPERS :=  # programs and images the integration tests use
FUZZ_SRCS   :=   # library sources the fuzz targets link (tests/build.mk)
IMAGES      :=   # guest images (packaging/build.mk)
FORMAT_SRCS = $(shell git ls-files --cached --others --exclude-standard '*.c' '*.h' 2>/dev/null)

.DEFAULT_GOAL := all
.DELETE_ON_ERROR:

# Only goals that compile need the dependency check and the pkg-config flags.
NO_CONFIG_GOALS := clean deps format help
# `make deps` installs the Debian packages the build and the tests need (a
# no-op when nothing is missing). The README's two commands, `make demo` and
# `make check`, run it first, before the check below, so that they work on a
# fresh Debian 12 machine; plain `make` never installs anything.
DEPS_GOALS := deps demo check

ifneq ($(filter-out $(NO_CONFIG_GOALS),$(or $(MAKECMDGOALS),all)),)
# Before the first build a missing dependency stops make here, in one line,
# instead of in the middle of remaking config.mk (which checks again).
ifeq ($(wildcard $(BUILD)/config.mk)$(filter $(DEPS_GOALS),$(MAKECMDGOALS)),)
DEPS_MISSING := $(shell CC='$(CC)' packaging/check-deps $(PKGS) 2>&1)
ifneq ($(DEPS_MISSING),)
$(error $(DEPS_MISSING))
endif
endif
include $(BUILD)/config.mk
endif

# Checks that what the build needs is here (packaging/check-deps: one line
# naming what is missing and `make deps`; it installs nothing) and records
# the flags pkg-config gives, so they are computed once, not per object.
$(BUILD)/config.mk: Makefile packaging/check-deps
	@CC='$(CC)' packaging/check-deps $(PKGS)
	@mkdir -p $(@D)
	@{ echo "PKG_CFLAGS := $$(pkg-config --cflags $(PKGS))"; \
	   echo "PKG_LIBS := $$(pkg-config --libs $(PKGS))"; } > $@.tmp && mv $@.tmp $@

ifneq ($(filter $(DEPS_GOALS),$(MAKECMDGOALS)),)
$(BUILD)/config.mk: | deps
endif

deps:
	@packaging/install-deps

# Every component's fragment; tests/ last, as its rules link all libraries.
include $(filter-out tests/build.mk,$(sort $(wildcard */build.mk))) tests/build.mk

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(KILN_COMPILE) -c -o $@ $<

# A static library from a list of objects: $(call kiln_lib,name,objs).
$(BUILD)/lib/%.a:
	@mkdir -p $(@D)
	@rm -f $@
	$(AR) rcs $@ $^

-include $(shell find $(BUILD)/obj $(BUILD)/fuzz -name '*.d' 2>/dev/null)

.PHONY: all check check-unit deps demo demo-vm format lint clean install help

all: $(BINS) $(IMAGES) $(UNIT_TESTS) $(TEST_HELPERS)

check-unit: $(UNIT_TESTS)
	@BUILD=$(BUILD) tests/run --unit

check: deps all fuzz
	@BUILD=$(BUILD) tests/run

demo: deps all
	@packaging/demo

demo-vm: all
	@packaging/demo-vm

format:
	clang-format -i $(FORMAT_SRCS)

# Lints the C files changed against HEAD (tracked or new).
LINT_SRCS = $(filter %.c,$(shell git diff --name-only HEAD 2>/dev/null; \
			git ls-files --others --exclude-standard 2>/dev/null))
lint:
	@if [ -z "$(LINT_SRCS)" ]; then echo "lint: no changed C files"; exit 0; fi; \
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
		--inline-suppr --suppress=missingIncludeSystem -I. $(LINT_SRCS) && \
	clang-tidy --quiet $(LINT_SRCS) -- $(KILN_CPPFLAGS) $(CPPFLAGS) $(KILN_CFLAGS)

# The guest goes where kiln looks next to its binary: PREFIX/share/kiln
# (see docs/runtime.md). The image's record names the kernel by the path it
# is installed at.
install: $(BINS) $(KILN_KERNEL) $(GUEST_IMAGE)
	@for b in $(BINS); do \
		install -D -m 0755 $$b $(DESTDIR)$(PREFIX)/bin/$$(basename $$b) || exit 1; \
	done
	install -D -m 0644 $(GUEST_IMAGE) $(DESTDIR)$(PREFIX)/share/kiln/initramfs.cpio.gz
	install -D -m 0644 $(KILN_KERNEL) $(DESTDIR)$(PREFIX)/share/kiln/vmlinux
	printf '%s\n%s\n' "$$(head -n 1 $(BUILD)/guest/kernel)" "$(PREFIX)/share/kiln/vmlinux" \
		>$(DESTDIR)$(PREFIX)/share/kiln/kernel

clean:
	rm -rf $(BUILD)

help:
	@echo "make            build everything (installs nothing: says what is missing)"
	@echo "make deps       install the missing Debian packages the build and tests need"
	@echo "make check      make deps, then unit tests, fuzzers and bats suites (KVM ones in tests/kvmhost/run)"
	@echo "make check-unit unit tests only"
	@echo "make fuzz       build the libFuzzer targets (tests/run --fuzz runs them)"
	@echo "make guest      kiln's guest kernel (PVH vmlinux, cached) and image (kiln-agent) in $(BUILD)/guest"
	@echo "make guest-debian  an image for Debian's installed kernel, in $(BUILD)/guest/debian"
	@echo "make demo       make deps, then run a busybox container in a microVM with kiln run"
	@echo "make demo-vm    boot a microVM with kiln-vmm and show its console"
	@echo "make format     clang-format every C file"
	@echo "make lint       cppcheck + clang-tidy on changed C files"
	@echo "make install    install binaries into DESTDIR/PREFIX (default /usr/local)"
	@echo "make clean      remove $(BUILD)/"
