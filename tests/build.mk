# tests/: unit tests (one TAP program per tests/unit/test_*.c, linked with
# every internal library so internal functions are reachable) and the helper
# programs the integration suites run. Included after every component.
# Static pattern rules, not plain ones: their objects are named targets, so
# make keeps them instead of deleting them as intermediates of a chain (which
# rebuilt every one of them on each `make`).
UNIT_TEST_PROGS := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(wildcard tests/unit/test_*.c))
HELPER_PROGS := $(patsubst tests/helpers/%.c,$(BUILD)/tests/helpers/%,$(wildcard tests/helpers/*.c))
UNIT_TESTS += $(UNIT_TEST_PROGS)
TEST_HELPERS += $(HELPER_PROGS)

$(UNIT_TEST_PROGS): $(BUILD)/tests/unit/%: $(BUILD)/obj/tests/unit/%.o $(LIBS)
	@mkdir -p $(@D)
	$(KILN_LINK) -o $@ $< -Wl,--start-group $(LIBS) -Wl,--end-group $(KILN_LDLIBS)

$(HELPER_PROGS): $(BUILD)/tests/helpers/%: $(BUILD)/obj/tests/helpers/%.o $(LIBS)
	@mkdir -p $(@D)
	$(KILN_LINK) -o $@ $< -Wl,--start-group $(LIBS) -Wl,--end-group $(KILN_LDLIBS)


# libFuzzer targets (tests/fuzz/fuzz_*.c), built with clang, ASan and UBSan
# against the sources the components list in FUZZ_SRCS; `tests/run --fuzz`
# runs each for a bounded time. The user's CPPFLAGS and LDFLAGS apply; CFLAGS
# does not, as it is meant for $(CC), not clang with sanitizers.
FUZZ_CC := clang
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_OBJS := $(FUZZ_SRCS:%.c=$(BUILD)/fuzz/obj/%.o)

# Plain `make` does not need clang, so packaging/check-deps leaves it out;
# `make fuzz` checks for it here, in one line (`make check` installs it).
ifneq ($(filter fuzz,$(MAKECMDGOALS)),)
ifeq ($(filter $(DEPS_GOALS),$(MAKECMDGOALS))$(shell command -v $(FUZZ_CC)),)
$(error kiln build: missing $(FUZZ_CC) in PATH (clang): run 'make deps' to install it)
endif
endif

$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(KILN_CPPFLAGS) $(CPPFLAGS) -std=gnu11 -MMD -MP -g -O1 $(FUZZ_SAN) \
		-fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_TARGETS): $(BUILD)/fuzz/%: $(BUILD)/fuzz/obj/tests/fuzz/%.o $(FUZZ_OBJS)
	$(FUZZ_CC) $(LDFLAGS) -g $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(KILN_LDLIBS)

fuzz: $(FUZZ_TARGETS)
.PHONY: fuzz

# The busybox root filesystem image kiln-agent's VM tests (agent.bats) give
# their containers.
TEST_HELPERS += $(BUILD)/tests/guest/rootfs.ext4
$(BUILD)/tests/guest/rootfs.ext4: tests/helpers/mkrootfs
	@mkdir -p $(@D)
	tests/helpers/mkrootfs $@
