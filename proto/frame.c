/* Framing of the agent protocol: a 4-byte big-endian payload length, then
 * the payload (docs/agent-protocol.md "Framing"). */
#include <errno.h>
#include <string.h>

#include "common/io.h"
#include "common/util.h"
#include "proto/proto.h"

static void frame_header(uint8_t hdr[4], size_t len)
{
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
}

static size_t frame_length(const uint8_t hdr[4])
{
	return (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
}

static int frame_length_check(size_t len, kiln_error_t *err)
{
	if (len == 0)
		return kiln_error_make(err, 0, "frame: length 0");
	if (len > PROTO_MAX_FRAME)
		return kiln_error_make(err, 0, "frame: length %zu is above the limit of %u", len,
				       PROTO_MAX_FRAME);
	return 0;
}

char *proto_frame_encode(const void *payload, size_t len, size_t *out_len)
{
	char *buf = xmalloc(len + 4);

	frame_header((uint8_t *)buf, len);
	memcpy(buf + 4, payload, len);
	*out_len = len + 4;
	return buf;
}

int proto_frame_write(int fd, const void *payload, size_t len, kiln_error_t *err)
{
	cleanup_free char *buf = NULL;
	size_t n;
	ssize_t r;

	if (frame_length_check(len, err) < 0)
		return -1;
	buf = proto_frame_encode(payload, len, &n);
	r = kiln_write_all(fd, buf, n);
	if (r < 0)
		return kiln_error_make(err, (int)r, "frame: write");
	return 0;
}

int proto_frame_read(int fd, char **out, size_t *len, kiln_error_t *err)
{
	cleanup_free char *buf = NULL;
	uint8_t hdr[4];
	size_t n;
	ssize_t r;

	r = kiln_read_full(fd, hdr, sizeof(hdr));
	if (r < 0)
		return kiln_error_make(err, (int)r, "frame: read");
	if (r == 0)
		return 1;
	if (r < (ssize_t)sizeof(hdr))
		return kiln_error_make(err, 0, "frame: end of stream inside the length");
	n = frame_length(hdr);
	if (frame_length_check(n, err) < 0)
		return -1;
	buf = xmalloc(n + 1);
	r = kiln_read_full(fd, buf, n);
	if (r < 0)
		return kiln_error_make(err, (int)r, "frame: read");
	if ((size_t)r < n)
		return kiln_error_make(err, 0, "frame: end of stream after %zd of %zu bytes", r, n);
	buf[n] = '\0';
	*out = TAKE_PTR(buf);
	*len = n;
	return 0;
}

void proto_decoder_init(struct proto_decoder *d)
{
	memset(d, 0, sizeof(*d));
}

void proto_decoder_release(struct proto_decoder *d)
{
	free(d->buf);
	proto_decoder_init(d);
}

bool proto_decoder_idle(const struct proto_decoder *d)
{
	return d->hdr_have == 0 && d->buf == NULL;
}

int proto_decoder_feed(struct proto_decoder *d, const void *data, size_t len, size_t *used,
		       char **frame, size_t *frame_len, kiln_error_t *err)
{
	const uint8_t *p = data;
	size_t off = 0;

	*used = 0;
	if (d->failed)
		return kiln_error_make(err, 0, "frame: stream already failed");
	while (d->hdr_have < sizeof(d->hdr) && off < len)
		d->hdr[d->hdr_have++] = p[off++];
	*used = off;
	if (d->hdr_have < sizeof(d->hdr))
		return 0;
	if (d->buf == NULL) {
		size_t n = frame_length(d->hdr);

		if (frame_length_check(n, err) < 0) {
			d->failed = true;
			return -1;
		}
		d->buf = xmalloc(n + 1);
		d->need = n;
		d->have = 0;
	}
	{
		size_t take = d->need - d->have;

		if (take > len - off)
			take = len - off;
		memcpy(d->buf + d->have, p + off, take);
		d->have += take;
		off += take;
		*used = off;
	}
	if (d->have < d->need)
		return 0;
	d->buf[d->need] = '\0';
	*frame = d->buf;
	*frame_len = d->need;
	d->buf = NULL;
	d->hdr_have = 0;
	d->need = d->have = 0;
	return 1;
}
