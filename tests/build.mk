# tests/: unit tests (one TAP program per tests/unit/test_*.c, linked with
# every internal library so internal functions are reachable) and the helper
# programs the integration suites run. Included after every component.
UNIT_TESTS += $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(wildcard tests/unit/test_*.c))
TEST_HELPERS += $(patsubst tests/helpers/%.c,$(BUILD)/tests/helpers/%,$(wildcard tests/helpers/*.c))

$(BUILD)/tests/unit/%: $(BUILD)/obj/tests/unit/%.o $(LIBS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< -Wl,--start-group $(LIBS) -Wl,--end-group $(KILN_LDLIBS)

$(BUILD)/tests/helpers/%: $(BUILD)/obj/tests/helpers/%.o $(LIBS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< -Wl,--start-group $(LIBS) -Wl,--end-group $(KILN_LDLIBS)

