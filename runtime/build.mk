# runtime/: kiln, the OCI runtime CLI. Everything but main.c goes into
# libkilnruntime.a so the unit tests reach it.
RUNTIME_SRCS := $(filter-out runtime/main.c,$(wildcard runtime/*.c))
RUNTIME_OBJS := $(RUNTIME_SRCS:%.c=$(BUILD)/obj/%.o)

$(BUILD)/lib/libkilnruntime.a: $(RUNTIME_OBJS)
LIBS := $(BUILD)/lib/libkilnruntime.a $(LIBS)

BINS += $(BUILD)/bin/kiln
$(BUILD)/bin/kiln: $(BUILD)/obj/runtime/main.o $(BUILD)/lib/libkilnruntime.a \
		$(BUILD)/lib/libkilnoci.a $(BUILD)/lib/libkilnproto.a $(BUILD)/lib/libkilncommon.a
	@mkdir -p $(@D)
	$(KILN_LINK) -o $@ $< -Wl,--start-group $(filter %.a,$^) -Wl,--end-group $(KILN_LDLIBS)
