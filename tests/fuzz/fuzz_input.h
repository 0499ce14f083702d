/* What the fuzz targets share: reading a libFuzzer input as a stream of
 * values (a value the input has run out for reads as 0), and an assertion
 * that aborts, so libFuzzer records the input. */
#ifndef KILN_TESTS_FUZZ_INPUT_H
#define KILN_TESTS_FUZZ_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ASSERT(c)                                                                             \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c);                    \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

struct input {
	const uint8_t *p;
	size_t n;
};

static inline bool take(struct input *in, void *out, size_t len)
{
	if (in->n < len)
		return false;
	memcpy(out, in->p, len);
	in->p += len;
	in->n -= len;
	return true;
}

#define FUZZ_TAKE_FN(name, type)                                                                   \
	static inline type name(struct input *in)                                                  \
	{                                                                                          \
		type v = 0;                                                                        \
                                                                                                   \
		take(in, &v, sizeof(v));                                                           \
		return v;                                                                          \
	}

FUZZ_TAKE_FN(take8, uint8_t)
FUZZ_TAKE_FN(take16, uint16_t)
FUZZ_TAKE_FN(take32, uint32_t)
FUZZ_TAKE_FN(take64, uint64_t)

#endif
