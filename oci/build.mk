# oci/: the OCI runtime-spec documents (config.json, process.json, state,
# features, the default spec) and the spec's name tables, shared by the
# kiln runtime and, statically linked, kiln-agent. No libmount here.
OCI_SRCS := $(wildcard oci/*.c)
OCI_OBJS := $(OCI_SRCS:%.c=$(BUILD)/obj/%.o)

$(BUILD)/lib/libkilnoci.a: $(OCI_OBJS)
LIBS := $(BUILD)/lib/libkilnoci.a $(LIBS)
FUZZ_SRCS += $(OCI_SRCS)
