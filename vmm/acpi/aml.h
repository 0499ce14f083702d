/* A small emitter of AML byte code (ACPI 6.4 §20), enough for a DSDT that
 * names devices and their resources: Scope, Device, Name, String, Integer,
 * EISAID and ResourceTemplate buffers with Memory32Fixed, IO, IRQNoFlags and
 * Extended Interrupt descriptors.
 *
 * Objects that carry a PkgLength are opened with a *_begin() call and closed
 * with aml_end(); the PkgLength (1 to 4 bytes) is inserted when the object is
 * closed, once its size is known. Emitters do not fail one by one: the first
 * mistake (a bad name, unbalanced nesting) is kept in the builder and
 * reported by aml_finish(), so a table is written as straight-line code. */
#ifndef KILN_VMM_ACPI_AML_H
#define KILN_VMM_ACPI_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Deepest nesting of Scope/Device/ResourceTemplate the builder tracks. */
#define AML_MAX_DEPTH 8

/* Largest value a PkgLength can hold: 28 bits (ACPI 6.4 §20.2.4). */
#define AML_PKGLENGTH_MAX 0x0fffffffU

/* Extended Interrupt descriptor flags (ACPI 6.4 §6.4.3.6, byte 3). */
#define AML_INT_CONSUMER    0x01 /* else ResourceProducer */
#define AML_INT_EDGE	    0x02 /* else Level */
#define AML_INT_ACTIVE_LOW  0x04 /* else ActiveHigh */
#define AML_INT_SHARED	    0x08 /* else Exclusive */
#define AML_INT_WAKECAPABLE 0x10

enum aml_open_kind {
	AML_OPEN_PKG,	 /* Scope, Device: PkgLength then the contents */
	AML_OPEN_BUFFER, /* Buffer: PkgLength, BufferSize, then the bytes */
};

struct aml {
	uint8_t *data;
	size_t len;
	size_t cap;
	struct {
		size_t start; /* offset of the first content byte */
		enum aml_open_kind kind;
	} open[AML_MAX_DEPTH];
	unsigned int depth;
	/* First mistake, "" while there is none. */
	char error[128];
};

void aml_init(struct aml *a);
/* Frees the byte code; accepts a builder that was never used. */
void aml_release(struct aml *a);

/* 0 when the byte code is complete: no mistake was made and every object
 * opened was closed. Otherwise sets *err and returns -1. */
int aml_finish(const struct aml *a, kiln_error_t *err);

/* Encodes a PkgLength for an object whose contents (after the PkgLength)
 * are content_len bytes; returns how many bytes it wrote into out (1..4), or
 * 0 when the object is too large to encode (ACPI 6.4 §20.2.4). */
size_t aml_pkglength_encode(uint8_t out[4], size_t content_len);

/* The 32-bit compressed EISA id of a 7-character PNP id such as "PNP0501"
 * (ACPI 6.4 §19.6, the EISAID macro): three letters A-Z, four hex digits. Returns
 * false when id is not of that form. */
bool aml_eisaid_encode(const char *id, uint32_t *out);

/* NameString (ACPI 6.4 §20.2.2): an optional leading '\' or '^'s, then
 * dot-separated segments of 1 to 4 characters ([A-Z_] then [A-Z0-9_]),
 * padded to 4 with '_'. "" is the NullName. */
void aml_namestring(struct aml *a, const char *path);

/* DefScope (ScopeOp 0x10) and DefDevice (ExtOpPrefix 0x5B, DeviceOp 0x82),
 * ACPI 6.4 §20.2.5.1 and §20.2.5.2. */
void aml_scope_begin(struct aml *a, const char *path);
void aml_device_begin(struct aml *a, const char *name);
/* Closes the innermost open object. */
void aml_end(struct aml *a);

/* DefName (NameOp 0x08, ACPI 6.4 §20.2.5.1): the next object emitted is the value. */
void aml_name(struct aml *a, const char *name);

/* Data objects (§20.2.3): the shortest integer encoding (ZeroOp, OneOp,
 * Byte/Word/DWord/QWordPrefix), a NUL-terminated String, and an EISAID
 * (always a DWordConst, as iasl emits it). */
void aml_integer(struct aml *a, uint64_t v);
void aml_string(struct aml *a, const char *s);
void aml_eisaid(struct aml *a, const char *id);

/* ResourceTemplate (ACPI 6.4 §19.6): a Buffer (§20.2.5.4) of resource descriptors. end
 * appends the End Tag (§6.4.2.9) and closes the buffer. */
void aml_resources_begin(struct aml *a);
void aml_resources_end(struct aml *a);

/* Resource descriptors (§6.4): Memory32Fixed (§6.4.3.4), IO with 16-bit
 * decode (§6.4.2.5), IRQNoFlags (§6.4.2.1, mask bit n = IRQ n) and the
 * Extended Interrupt descriptor with one interrupt (§6.4.3.6, flags from
 * AML_INT_*). */
void aml_res_memory32_fixed(struct aml *a, bool writable, uint32_t base, uint32_t len);
void aml_res_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align, uint8_t len);
void aml_res_irq_noflags(struct aml *a, uint16_t mask);
void aml_res_interrupt(struct aml *a, uint8_t flags, uint32_t gsi);

#endif
