# agent/: kiln-agent, the guest's PID 1, linked statically (the initramfs
# has no libc). Everything but main.c goes into libkilnagent.a so the unit
# tests reach it. No libmount: mount(2) directly. The spec's name tables
# come from libkilnoci.a (oci/names.c).
AGENT_SRCS := $(filter-out agent/main.c,$(wildcard agent/*.c))
AGENT_OBJS := $(AGENT_SRCS:%.c=$(BUILD)/obj/%.o)

$(BUILD)/lib/libkilnagent.a: $(AGENT_OBJS)
LIBS := $(BUILD)/lib/libkilnagent.a $(LIBS)

AGENT_STATIC_LIBS := /usr/lib/x86_64-linux-gnu/libyajl_s.a
AGENT_LDLIBS := -lseccomp -lcap

BINS += $(BUILD)/bin/kiln-agent
$(BUILD)/bin/kiln-agent: $(BUILD)/obj/agent/main.o $(BUILD)/lib/libkilnagent.a \
		$(BUILD)/lib/libkilnoci.a $(BUILD)/lib/libkilnproto.a $(BUILD)/lib/libkilncommon.a
	@mkdir -p $(@D)
	$(KILN_LINK) -static -o $@ $< -Wl,--start-group $(filter %.a,$^) -Wl,--end-group \
		$(AGENT_STATIC_LIBS) $(AGENT_LDLIBS)
