#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/netlink.h"
#include "common/util.h"

bool kiln_mac_parse(const char *s, uint8_t mac[KILN_MAC_LEN])
{
	uint8_t out[KILN_MAC_LEN];

	if (strlen(s) != 3 * KILN_MAC_LEN - 1)
		return false;
	for (size_t i = 0; i < KILN_MAC_LEN; i++) {
		int hi = kiln_hex_digit(s[3 * i]), lo = kiln_hex_digit(s[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i < KILN_MAC_LEN - 1 && s[3 * i + 2] != ':'))
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(mac, out, KILN_MAC_LEN);
	return true;
}

void kiln_mac_format(const uint8_t mac[KILN_MAC_LEN], char out[KILN_MAC_STRLEN])
{
	snprintf(out, KILN_MAC_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
		 mac[3], mac[4], mac[5]);
}

bool kiln_ifname_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len >= IFNAMSIZ || streq(name, ".") || streq(name, ".."))
		return false;
	for (const char *p = name; *p; p++)
		if (*p == '/' || *p == ':' || (unsigned char)*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

/* A dump's replies come in datagrams of up to a page or so each (32 KiB
 * covers what the kernel sends at once). */
#define RECV_BUF (32 * 1024)

int kiln_nl_open(struct kiln_nl *nl)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	int one = 1;

	nl->seq = 0;
	nl->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (nl->fd < 0)
		return -errno;
	/* extended acks would add text we do not read */
	setsockopt(nl->fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	if (bind(nl->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;

		close(nl->fd);
		nl->fd = -1;
		return e;
	}
	return 0;
}

void kiln_nl_close(struct kiln_nl *nl)
{
	if (nl->fd >= 0)
		close(nl->fd);
	nl->fd = -1;
}

void kiln_nlmsg_init(struct kiln_nlmsg *m, uint16_t type, uint16_t flags, const void *fam,
		     size_t fam_len)
{
	memset(m, 0, sizeof(*m));
	if (NLMSG_LENGTH(fam_len) > sizeof(m->u.buf))
		abort();
	m->u.h.nlmsg_len = NLMSG_LENGTH(fam_len);
	m->u.h.nlmsg_type = type;
	m->u.h.nlmsg_flags = NLM_F_REQUEST | flags;
	memcpy(NLMSG_DATA(&m->u.h), fam, fam_len);
}

void kiln_nlmsg_attr(struct kiln_nlmsg *m, uint16_t type, const void *data, size_t len)
{
	size_t at = NLMSG_ALIGN(m->u.h.nlmsg_len);
	struct rtattr *a = (struct rtattr *)(m->u.buf + at);

	if (at + RTA_SPACE(len) > sizeof(m->u.buf))
		abort();
	a->rta_type = type;
	a->rta_len = RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(a), data, len);
	m->u.h.nlmsg_len = at + RTA_SPACE(len);
}

void kiln_nlmsg_attr_u32(struct kiln_nlmsg *m, uint16_t type, uint32_t v)
{
	kiln_nlmsg_attr(m, type, &v, sizeof(v));
}

void kiln_nlmsg_attr_str(struct kiln_nlmsg *m, uint16_t type, const char *s)
{
	kiln_nlmsg_attr(m, type, s, strlen(s) + 1);
}

struct rtattr *kiln_nlmsg_nest(struct kiln_nlmsg *m, uint16_t type)
{
	struct rtattr *a = (struct rtattr *)(m->u.buf + NLMSG_ALIGN(m->u.h.nlmsg_len));

	kiln_nlmsg_attr(m, type, NULL, 0);
	return a;
}

void kiln_nlmsg_nest_end(struct kiln_nlmsg *m, struct rtattr *nest)
{
	nest->rta_len = (unsigned short)(m->u.buf + m->u.h.nlmsg_len - (char *)nest);
}

static int send_msg(struct kiln_nl *nl, struct kiln_nlmsg *m)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	ssize_t n;

	m->u.h.nlmsg_seq = ++nl->seq;
	do
		n = sendto(nl->fd, m->u.buf, m->u.h.nlmsg_len, 0, (struct sockaddr *)&sa,
			   sizeof(sa));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == (ssize_t)m->u.h.nlmsg_len ? 0 : -EIO;
}

/* Reads the answers to request seq: fn (when not NULL) gets each data
 * message; an error message or NLMSG_DONE ends it. */
static int receive(struct kiln_nl *nl, uint32_t seq, kiln_nl_dump_fn fn, void *arg)
{
	cleanup_free char *buf = xmalloc(RECV_BUF);
	int r = 0;

	for (;;) {
		ssize_t n;

		do
			n = recv(nl->fd, buf, RECV_BUF, 0);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != seq)
				continue;
			if (h->nlmsg_type == NLMSG_DONE)
				return r;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
					return -EIO;
				/* an ack (0) ends a request; a dump ends with DONE */
				return e->error ? e->error : r;
			}
			if (fn && r == 0)
				r = fn(h, arg);
		}
	}
}

int kiln_nl_request(struct kiln_nl *nl, struct kiln_nlmsg *m)
{
	int r;

	m->u.h.nlmsg_flags |= NLM_F_ACK;
	r = send_msg(nl, m);
	return r < 0 ? r : receive(nl, nl->seq, NULL, NULL);
}

int kiln_nl_dump(struct kiln_nl *nl, struct kiln_nlmsg *m, kiln_nl_dump_fn fn, void *arg)
{
	int r;

	m->u.h.nlmsg_flags |= NLM_F_DUMP;
	r = send_msg(nl, m);
	return r < 0 ? r : receive(nl, nl->seq, fn, arg);
}

void kiln_nl_attrs(const struct rtattr *rta, size_t len, const struct rtattr **tb, size_t max)
{
	unsigned int left = (unsigned int)len;

	memset(tb, 0, (max + 1) * sizeof(*tb));
	for (; RTA_OK(rta, left); rta = RTA_NEXT(rta, left))
		if (rta->rta_type <= max)
			tb[rta->rta_type] = rta;
}

void kiln_nl_msg_attrs(const struct nlmsghdr *h, size_t fam_len, const struct rtattr **tb,
		       size_t max)
{
	size_t off = NLMSG_LENGTH(fam_len);

	if (h->nlmsg_len < NLMSG_ALIGN(off)) {
		memset(tb, 0, (max + 1) * sizeof(*tb));
		return;
	}
	kiln_nl_attrs((const struct rtattr *)((const char *)h + NLMSG_ALIGN(off)),
		      h->nlmsg_len - NLMSG_ALIGN(off), tb, max);
}
