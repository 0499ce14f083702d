# runtime/: kiln, the OCI runtime. The library (runtime/*.c but main.c) goes
# into libkilnruntime.a, which the unit tests link; the CLI (main.c and one
# file per verb in runtime/cli/) only into kiln.
RUNTIME_SRCS := $(filter-out runtime/main.c,$(wildcard runtime/*.c))
RUNTIME_OBJS := $(RUNTIME_SRCS:%.c=$(BUILD)/obj/%.o)
RUNTIME_CLI_SRCS := runtime/main.c $(wildcard runtime/cli/*.c)
RUNTIME_CLI_OBJS := $(RUNTIME_CLI_SRCS:%.c=$(BUILD)/obj/%.o)

$(BUILD)/lib/libkilnruntime.a: $(RUNTIME_OBJS)
LIBS := $(BUILD)/lib/libkilnruntime.a $(LIBS)

BINS += $(BUILD)/bin/kiln
$(BUILD)/bin/kiln: $(RUNTIME_CLI_OBJS) $(BUILD)/lib/libkilnruntime.a \
		$(BUILD)/lib/libkilnoci.a $(BUILD)/lib/libkilnproto.a $(BUILD)/lib/libkilncommon.a
	@mkdir -p $(@D)
	$(KILN_LINK) -o $@ $(filter %.o,$^) -Wl,--start-group $(filter %.a,$^) -Wl,--end-group $(KILN_LDLIBS)
