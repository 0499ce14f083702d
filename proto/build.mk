# proto/: the agent protocol's framing and messages (docs/agent-protocol.md),
# shared by kiln-agent in the guest and the host side.
PROTO_SRCS := $(wildcard proto/*.c)
PROTO_OBJS := $(PROTO_SRCS:%.c=$(BUILD)/obj/%.o)

$(BUILD)/lib/libkilnproto.a: $(PROTO_OBJS)
LIBS := $(BUILD)/lib/libkilnproto.a $(LIBS)
FUZZ_SRCS += $(PROTO_SRCS)
