# common/: the support library every kiln binary links.
COMMON_SRCS := $(wildcard common/*.c)
COMMON_OBJS := $(COMMON_SRCS:%.c=$(BUILD)/obj/%.o)

$(BUILD)/lib/libkilncommon.a: $(COMMON_OBJS)
LIBS += $(BUILD)/lib/libkilncommon.a
FUZZ_SRCS += $(COMMON_SRCS)
