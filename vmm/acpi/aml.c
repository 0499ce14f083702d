#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "vmm/acpi/aml.h"

/* Opcodes and prefixes, ACPI 6.4 §20.2. */
#define AML_ZERO_OP	      0x00
#define AML_ONE_OP	      0x01
#define AML_NAME_OP	      0x08
#define AML_BYTE_PREFIX	      0x0a
#define AML_WORD_PREFIX	      0x0b
#define AML_DWORD_PREFIX      0x0c
#define AML_STRING_PREFIX     0x0d
#define AML_QWORD_PREFIX      0x0e
#define AML_SCOPE_OP	      0x10
#define AML_BUFFER_OP	      0x11
#define AML_DUAL_NAME_PREFIX  0x2e
#define AML_MULTI_NAME_PREFIX 0x2f
#define AML_EXT_OP_PREFIX     0x5b
#define AML_DEVICE_OP	      0x82 /* after AML_EXT_OP_PREFIX */
#define AML_ROOT_CHAR	      '\\'
#define AML_PARENT_PREFIX     '^'

/* Resource descriptor tags, ACPI 6.4 §6.4.2 (small) and §6.4.3 (large). */
#define AML_RES_IRQ_NOFLAGS    0x22 /* small item 0x04, length 2 */
#define AML_RES_IO	       0x47 /* small item 0x08, length 7 */
#define AML_RES_END_TAG	       0x79 /* small item 0x0f, length 1 */
#define AML_RES_MEMORY32_FIXED 0x86
#define AML_RES_EXT_INTERRUPT  0x89

/* A NameString may have at most 255 segments (MultiNamePrefix SegCount). */
#define AML_MAX_SEGS 255

__attribute__((format(printf, 2, 3))) static void aml_fail(struct aml *a, const char *fmt, ...)
{
	va_list ap;

	if (a->error[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(a->error, sizeof(a->error), fmt, ap);
	va_end(ap);
}

static void aml_reserve(struct aml *a, size_t more)
{
	size_t cap = a->cap ? a->cap : 256;

	if (a->len + more <= a->cap)
		return;
	while (cap < a->len + more)
		cap *= 2;
	a->data = xrealloc(a->data, cap);
	a->cap = cap;
}

static void aml_emit(struct aml *a, const void *bytes, size_t n)
{
	aml_reserve(a, n);
	memcpy(a->data + a->len, bytes, n);
	a->len += n;
}

static void aml_emit_byte(struct aml *a, uint8_t b)
{
	aml_emit(a, &b, 1);
}

static void aml_emit_le(struct aml *a, uint64_t v, unsigned int n)
{
	uint8_t b[8];

	for (unsigned int i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	aml_emit(a, b, n);
}

/* Inserts n bytes at offset `at`, moving what follows. */
static void aml_insert(struct aml *a, size_t at, const uint8_t *bytes, size_t n)
{
	aml_reserve(a, n);
	memmove(a->data + at + n, a->data + at, a->len - at);
	memcpy(a->data + at, bytes, n);
	a->len += n;
}

void aml_init(struct aml *a)
{
	memset(a, 0, sizeof(*a));
}

void aml_release(struct aml *a)
{
	free(a->data);
	memset(a, 0, sizeof(*a));
}

int aml_finish(const struct aml *a, kiln_error_t *err)
{
	if (a->error[0] != '\0')
		return kiln_error_make(err, 0, "AML: %s", a->error);
	if (a->depth != 0)
		return kiln_error_make(err, 0, "AML: %u object(s) left open", a->depth);
	return 0;
}

/* ACPI 6.4 §20.2.4: bits 7-6 of the lead byte count the bytes that follow.
 * Alone, the lead byte holds the length in bits 5-0; otherwise its bits 3-0
 * are the low nibble and each following byte the next 8 bits. The length
 * counts the PkgLength bytes themselves. */
size_t aml_pkglength_encode(uint8_t out[4], size_t content_len)
{
	size_t n, total;

	if (content_len < 0x3f) {
		out[0] = (uint8_t)(content_len + 1);
		return 1;
	}
	for (n = 2; n <= 4; n++) {
		total = content_len + n;
		if (total < content_len || total > AML_PKGLENGTH_MAX)
			return 0;
		if (total < (1U << (4 + 8 * (n - 1))))
			break;
	}
	if (n > 4)
		return 0;
	out[0] = (uint8_t)(((n - 1) << 6) | (total & 0x0f));
	for (size_t i = 1; i < n; i++)
		out[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	return n;
}

/* Three 5-bit letters ('A' is 1) and a 16-bit product number, stored so
 * that the bytes read in memory order as the EISA id (big-endian). */
bool aml_eisaid_encode(const char *id, uint32_t *out)
{
	uint32_t v = 0;

	if (strlen(id) != 7)
		return false;
	for (int i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z')
			return false;
		v |= (uint32_t)(id[i] - 0x40) << (26 - 5 * i);
	}
	for (int i = 3; i < 7; i++) {
		int d = kiln_hex_digit(id[i]);

		if (d < 0)
			return false;
		v |= (uint32_t)d << (4 * (6 - i));
	}
	*out = __builtin_bswap32(v);
	return true;
}

static bool aml_nameseg_char_ok(char c, bool lead)
{
	if ((c >= 'A' && c <= 'Z') || c == '_')
		return true;
	return !lead && c >= '0' && c <= '9';
}

/* ACPI 6.4 §20.2.2: NameString := RootChar NamePath | PrefixPath NamePath;
 * NamePath := NameSeg | DualNamePath | MultiNamePath | NullName. */
void aml_namestring(struct aml *a, const char *path)
{
	uint8_t segs[AML_MAX_SEGS][4];
	const char *p = path;
	size_t nsegs = 0;

	if (*p == AML_ROOT_CHAR) {
		aml_emit_byte(a, AML_ROOT_CHAR);
		p++;
	} else {
		while (*p == AML_PARENT_PREFIX) {
			aml_emit_byte(a, AML_PARENT_PREFIX);
			p++;
		}
	}
	while (*p != '\0') {
		size_t n = strcspn(p, ".");

		if (n == 0 || n > 4 || nsegs == AML_MAX_SEGS) {
			aml_fail(a, "invalid name '%s'", path);
			return;
		}
		for (size_t i = 0; i < 4; i++) {
			char c = i < n ? p[i] : '_';

			if (!aml_nameseg_char_ok(c, i == 0)) {
				aml_fail(a, "invalid name '%s'", path);
				return;
			}
			segs[nsegs][i] = (uint8_t)c;
		}
		nsegs++;
		p += n;
		if (*p == '.') {
			p++;
			if (*p == '\0') {
				aml_fail(a, "invalid name '%s'", path);
				return;
			}
		}
	}
	if (nsegs == 0) {
		aml_emit_byte(a, AML_ZERO_OP); /* NullName */
		return;
	}
	if (nsegs == 2) {
		aml_emit_byte(a, AML_DUAL_NAME_PREFIX);
	} else if (nsegs > 2) {
		aml_emit_byte(a, AML_MULTI_NAME_PREFIX);
		aml_emit_byte(a, (uint8_t)nsegs);
	}
	aml_emit(a, segs, nsegs * 4);
}

static void aml_open(struct aml *a, enum aml_open_kind kind)
{
	if (a->depth == AML_MAX_DEPTH) {
		aml_fail(a, "objects nested deeper than %d", AML_MAX_DEPTH);
		return;
	}
	a->open[a->depth].start = a->len;
	a->open[a->depth].kind = kind;
	a->depth++;
}

/* Encodes an integer as a Byte/Word/DWord/QWordConst or ZeroOp/OneOp into
 * out (at most 9 bytes) and returns its size. */
static size_t aml_integer_encode(uint8_t out[9], uint64_t v)
{
	size_t n;

	if (v <= 1) {
		out[0] = v ? AML_ONE_OP : AML_ZERO_OP;
		return 1;
	}
	if (v <= UINT8_MAX) {
		out[0] = AML_BYTE_PREFIX;
		n = 1;
	} else if (v <= UINT16_MAX) {
		out[0] = AML_WORD_PREFIX;
		n = 2;
	} else if (v <= UINT32_MAX) {
		out[0] = AML_DWORD_PREFIX;
		n = 4;
	} else {
		out[0] = AML_QWORD_PREFIX;
		n = 8;
	}
	for (size_t i = 0; i < n; i++)
		out[1 + i] = (uint8_t)(v >> (8 * i));
	return n + 1;
}

void aml_end(struct aml *a)
{
	uint8_t prefix[4 + 9], size[9];
	size_t start, content, n = 0, m;

	if (a->depth == 0) {
		aml_fail(a, "aml_end() with no object open");
		return;
	}
	a->depth--;
	start = a->open[a->depth].start;
	content = a->len - start;
	/* DefBuffer := BufferOp PkgLength BufferSize ByteList (§20.2.5.4):
	 * BufferSize sits inside the PkgLength, before the bytes it counts. */
	if (a->open[a->depth].kind == AML_OPEN_BUFFER)
		n = aml_integer_encode(size, content);
	m = aml_pkglength_encode(prefix, content + n);
	if (m == 0) {
		aml_fail(a, "object of %zu bytes is too large for a PkgLength", content);
		return;
	}
	memcpy(prefix + m, size, n);
	aml_insert(a, start, prefix, m + n);
}

void aml_scope_begin(struct aml *a, const char *path)
{
	aml_emit_byte(a, AML_SCOPE_OP);
	aml_open(a, AML_OPEN_PKG);
	aml_namestring(a, path);
}

void aml_device_begin(struct aml *a, const char *name)
{
	aml_emit_byte(a, AML_EXT_OP_PREFIX);
	aml_emit_byte(a, AML_DEVICE_OP);
	aml_open(a, AML_OPEN_PKG);
	aml_namestring(a, name);
}

void aml_name(struct aml *a, const char *name)
{
	aml_emit_byte(a, AML_NAME_OP);
	aml_namestring(a, name);
}

void aml_integer(struct aml *a, uint64_t v)
{
	uint8_t b[9];
	size_t n = aml_integer_encode(b, v);

	aml_emit(a, b, n);
}

/* String := StringPrefix AsciiCharList NullChar, chars 0x01-0x7F. */
void aml_string(struct aml *a, const char *s)
{
	for (const char *p = s; *p != '\0'; p++) {
		if ((unsigned char)*p > 0x7f) {
			aml_fail(a, "string '%s' is not ASCII", s);
			return;
		}
	}
	aml_emit_byte(a, AML_STRING_PREFIX);
	aml_emit(a, s, strlen(s) + 1);
}

void aml_eisaid(struct aml *a, const char *id)
{
	uint32_t v;

	if (!aml_eisaid_encode(id, &v)) {
		aml_fail(a, "invalid EISA id '%s'", id);
		return;
	}
	aml_emit_byte(a, AML_DWORD_PREFIX);
	aml_emit_le(a, v, 4);
}

void aml_resources_begin(struct aml *a)
{
	aml_emit_byte(a, AML_BUFFER_OP);
	aml_open(a, AML_OPEN_BUFFER);
}

/* A checksum byte of 0 means "the template is correct" (§6.4.2.9). */
void aml_resources_end(struct aml *a)
{
	if (a->depth == 0 || a->open[a->depth - 1].kind != AML_OPEN_BUFFER) {
		aml_fail(a, "aml_resources_end() with no ResourceTemplate open");
		return;
	}
	aml_emit_byte(a, AML_RES_END_TAG);
	aml_emit_byte(a, 0);
	aml_end(a);
}

/* ACPI 6.4 §6.4.3.4: tag, length 9, information (bit 0: read-write),
 * base, length. */
void aml_res_memory32_fixed(struct aml *a, bool writable, uint32_t base, uint32_t len)
{
	aml_emit_byte(a, AML_RES_MEMORY32_FIXED);
	aml_emit_le(a, 9, 2);
	aml_emit_byte(a, writable ? 1 : 0);
	aml_emit_le(a, base, 4);
	aml_emit_le(a, len, 4);
}

/* ACPI 6.4 §6.4.2.5: information (bit 0: 16-bit decode), minimum, maximum,
 * alignment, length. */
void aml_res_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
	aml_emit_byte(a, AML_RES_IO);
	aml_emit_byte(a, 1);
	aml_emit_le(a, min, 2);
	aml_emit_le(a, max, 2);
	aml_emit_byte(a, align);
	aml_emit_byte(a, len);
}

/* ACPI 6.4 §6.4.2.1: the 2-byte form, which means edge-triggered, active
 * high, exclusive (ISA). */
void aml_res_irq_noflags(struct aml *a, uint16_t mask)
{
	aml_emit_byte(a, AML_RES_IRQ_NOFLAGS);
	aml_emit_le(a, mask, 2);
}

/* ACPI 6.4 §6.4.3.6: tag, length (flags + count + 4 per interrupt, no
 * resource source), flags, count, then the GSIs. */
void aml_res_interrupt(struct aml *a, uint8_t flags, uint32_t gsi)
{
	aml_emit_byte(a, AML_RES_EXT_INTERRUPT);
	aml_emit_le(a, 2 + 4, 2);
	aml_emit_byte(a, flags);
	aml_emit_byte(a, 1);
	aml_emit_le(a, gsi, 4);
}
