/* rtnetlink from C, for the two places that configure networks: the
 * runtime wiring a container's network namespace to its VM's tap
 * (runtime/network.c) and the agent giving the guest's interfaces their
 * addresses and routes (agent/net.c). A message is built in a fixed
 * buffer, sent with NLM_F_ACK and answered by the kernel's error code; a
 * dump hands every reply to a callback. Errors are -errno, for the caller
 * to name what it was doing. */
#ifndef KILN_COMMON_NETLINK_H
#define KILN_COMMON_NETLINK_H

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Names of the network: MAC addresses and interface names. */

#define KILN_MAC_LEN 6
/* "aa:bb:cc:dd:ee:ff" and its NUL */
#define KILN_MAC_STRLEN 18

/* Parses six colon-separated two-digit hex bytes (either case). */
bool kiln_mac_parse(const char *s, uint8_t mac[KILN_MAC_LEN]);
void kiln_mac_format(const uint8_t mac[KILN_MAC_LEN], char out[KILN_MAC_STRLEN]);

/* Whether name is one the kernel takes for an interface (dev_valid_name):
 * 1 to IFNAMSIZ - 1 bytes, no '/', ':' or white space, not "." or "..". */
bool kiln_ifname_valid(const char *name);

/* ---- rtnetlink. */

/* Largest request kiln builds (a tc filter with its action is ~200 bytes). */
#define KILN_NLMSG_MAX 1024

struct kiln_nl {
	int fd;
	uint32_t seq;
};

struct kiln_nlmsg {
	union {
		struct nlmsghdr h;
		char buf[KILN_NLMSG_MAX];
	} u;
};

/* A NETLINK_ROUTE socket in the calling thread's network namespace.
 * Returns 0 or -errno. */
int kiln_nl_open(struct kiln_nl *nl);
void kiln_nl_close(struct kiln_nl *nl);

/* Starts a request: the netlink header, then the family header (ifinfomsg,
 * ifaddrmsg, rtmsg, tcmsg) copied from fam. NLM_F_REQUEST is added. */
void kiln_nlmsg_init(struct kiln_nlmsg *m, uint16_t type, uint16_t flags, const void *fam,
		     size_t fam_len);

/* Appends an attribute. The requests are fixed shapes built by kiln, so
 * running out of room is a bug: it aborts. */
void kiln_nlmsg_attr(struct kiln_nlmsg *m, uint16_t type, const void *data, size_t len);
void kiln_nlmsg_attr_u32(struct kiln_nlmsg *m, uint16_t type, uint32_t v);
void kiln_nlmsg_attr_str(struct kiln_nlmsg *m, uint16_t type, const char *s);

/* A nested attribute: the ones added until kiln_nlmsg_nest_end go inside. */
struct rtattr *kiln_nlmsg_nest(struct kiln_nlmsg *m, uint16_t type);
void kiln_nlmsg_nest_end(struct kiln_nlmsg *m, struct rtattr *nest);

/* Sends m with NLM_F_ACK and waits for the kernel's answer: 0 or -errno. */
int kiln_nl_request(struct kiln_nl *nl, struct kiln_nlmsg *m);

/* Sends m with NLM_F_DUMP and calls fn for every reply until the dump
 * ends; fn returns 0 to go on or <0 to stop (the dump is still read to its
 * end). Returns 0, fn's value, or -errno. */
typedef int (*kiln_nl_dump_fn)(const struct nlmsghdr *h, void *arg);
int kiln_nl_dump(struct kiln_nl *nl, struct kiln_nlmsg *m, kiln_nl_dump_fn fn, void *arg);

/* Indexes the attributes in rta[0..len) by type: tb[0..max], NULL where
 * absent; types above max are skipped. */
void kiln_nl_attrs(const struct rtattr *rta, size_t len, const struct rtattr **tb, size_t max);

/* The attributes that follow a reply's family header of fam_len bytes. */
void kiln_nl_msg_attrs(const struct nlmsghdr *h, size_t fam_len, const struct rtattr **tb,
		       size_t max);

/* An attribute's payload and its length. */
static inline const void *kiln_nl_data(const struct rtattr *a)
{
	return RTA_DATA(a);
}

static inline size_t kiln_nl_len(const struct rtattr *a)
{
	return RTA_PAYLOAD(a);
}

#endif
